/**
 * Turns of the event loop between slices of a batch, so that a long batch
 * does not keep the database's statements waiting.
 *
 * @module
 */
/**
 * Messages handled between two turns of the event loop while gathering,
 * decoding or settling a batch. The previous batch's statements run on the
 * database's thread, but each is issued from this one when the one before it
 * completes: without these turns a 2,500-message batch would keep this
 * thread, and leave the database idle, for a tenth of a second.
 */
export const SLICE = 100;

/** Lets the event loop run before going on (see `next_turn.ts`). */
export { nextTurn } from "../next_turn.ts";
