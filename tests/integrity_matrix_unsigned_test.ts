/** The adversarial matrix (`integrity_matrix.ts`) on an unsigned database (no key). */
import { matrixTest } from "./integrity_matrix_run.ts";

matrixTest("none", false);
