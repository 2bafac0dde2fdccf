import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { wsconnect } from "@nats-io/nats-core";
import { startNatsServer } from "./nats_server.ts";
import { main, parsePublishArgs, UsageError } from "./publish.ts";

Deno.test("the command line has the documented defaults", () => {
  deepStrictEqual(parsePublishArgs([]), {
    count: 100,
    rate: 20,
    tenants: 3,
    devices: 5,
    users: 4,
    malformed: 0.02,
    anomalous: 0.02,
    idlePairs: 0.1,
    other: 0.05,
    createStream: false,
    quiet: false,
    help: false,
  });
});

Deno.test("options are read as '--name value' and '--name=value'", () => {
  const options = parsePublishArgs([
    "--count",
    "0",
    "--rate=2.5",
    "--tenants",
    "7",
    "--idle-pairs=0.5",
    "--malformed",
    "0",
    "--anomalous=0.25",
    "--seed",
    "abc",
    "--create-stream",
    "--quiet",
  ]);
  equal(options.count, 0);
  equal(options.rate, 2.5);
  equal(options.tenants, 7);
  equal(options.idlePairs, 0.5);
  equal(options.malformed, 0);
  equal(options.anomalous, 0.25);
  equal(options.seed, "abc");
  ok(options.createStream && options.quiet);
});

Deno.test("a bad command line names the option and its value", () => {
  throws(() => parsePublishArgs(["--count", "-1"]), /'--count' .* current value is "-1"/);
  throws(() => parsePublishArgs(["--tenants", "0"]), /'--tenants' must be an integer >= 1/);
  throws(
    () => parsePublishArgs(["--malformed", "2"]),
    /'--malformed' must be a number from 0 to 1/,
  );
  throws(() => parsePublishArgs(["--rate"]), /'--rate' needs a value/);
  throws(() => parsePublishArgs(["--fast"]), UsageError);
});

Deno.test("publishing a backlog as fast as possible stores every message in DEVICE_EVENTS", async () => {
  const server = await startNatsServer();
  try {
    const code = await main(
      ["--count", "600", "--rate", "0", "--create-stream", "--quiet", "--seed", "backlog"],
      { NATS_URL: server.wsUrl },
    );
    equal(code, 0);
    const nc = await wsconnect({ servers: server.wsUrl });
    const info = await (await jetstreamManager(nc)).streams.info("DEVICE_EVENTS");
    await nc.close();
    equal(info.state.messages, 600);
  } finally {
    await server.stop();
    await Deno.remove(server.dir, { recursive: true });
  }
});

Deno.test("without the stream the publisher stops at once with a hint", async () => {
  const server = await startNatsServer();
  try {
    equal(await main(["--count", "5", "--quiet"], { NATS_URL: server.wsUrl }), 1);
  } finally {
    await server.stop();
    await Deno.remove(server.dir, { recursive: true });
  }
});
