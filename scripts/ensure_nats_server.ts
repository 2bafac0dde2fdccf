/**
 * Makes sure nats-server is available before the tests run: installs it with
 * apt-get where that works, otherwise prints one line saying how and exits 1.
 *
 * @module
 */
import { ensureNatsServer } from "./nats_server.ts";

try {
  const bin = await ensureNatsServer();
  const out = await new Deno.Command(bin, { args: ["--version"], stdout: "piped" }).output();
  console.error(`using ${new TextDecoder().decode(out.stdout).trim()} (${bin})`);
} catch (err) {
  console.error((err as Error).message);
  Deno.exit(1);
}
