/** The adversarial matrix (`integrity_matrix.ts`) on a database signed with Ed25519. */
import { matrixTest } from "./integrity_matrix_run.ts";

matrixTest("ed25519", false);
