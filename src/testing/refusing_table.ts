/**
 * A table for the store's unit tests whose trigger refuses one value, as a
 * constraint or an operator's trigger refuses a row: a real, deterministic
 * database-level failure.
 *
 * @module
 */

/** The value the trigger refuses. */
export const POISON = "poison";

/** The statements that create table `t` (column `x`) and its refusing trigger. */
export const REFUSING_TABLE: readonly string[] = [
  "CREATE TABLE t (x TEXT NOT NULL UNIQUE)",
  `CREATE TRIGGER refuse BEFORE INSERT ON t WHEN NEW.x = '${POISON}'
     BEGIN SELECT RAISE(ABORT, 'poison refused'); END`,
];
