/** The adversarial matrix (`integrity_matrix.ts`) on an unsigned database (no key), after a retention purge. */
import { matrixTest } from "./integrity_matrix_run.ts";

matrixTest("none", true);
