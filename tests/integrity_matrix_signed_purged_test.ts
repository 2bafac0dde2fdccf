/** The adversarial matrix (`integrity_matrix.ts`) on a database signed with Ed25519, after a retention purge. */
import { matrixTest } from "./integrity_matrix_run.ts";

matrixTest("ed25519", true);
