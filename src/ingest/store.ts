/**
 * The store's functions and types the ingest uses, imported in this one
 * place so that the store's layout can change without touching every stage.
 *
 * @module
 */
export {
  ChainHeadCache,
  commitBatch,
  prepareBatch,
  prepareBatchInSlices,
} from "../store/session_ends.ts";
export type {
  BatchOutcome,
  DeadLetter,
  IncomingSessionEnd,
  PreparedBatch,
} from "../store/session_ends.ts";
