/**
 * Start-up against a NATS that refuses us, as an operator meets it: every
 * refusal that only configuration can cure stops the process with exit
 * code 2 and one line naming the variable (a real nats-server with token,
 * user/password and operator-mode JWT authentication; a real TLS gateway
 * with a private CA); what may heal by itself (NATS down, a certificate
 * that cannot be verified) is retried, logged at growing intervals and
 * named by `/readyz`.
 */
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import {
  makePrivateCa,
  operatorMode,
  plainLines,
  type PrivateCa,
  runToExit,
} from "./nats_auth_fixture.ts";
import { freePort, type NatsServer, startNatsServer, startService, waitFor } from "./harness.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** Runs `body` with a temporary directory and a nats-server configured with `extraConfig`. */
async function withNats(
  extraConfig: (dir: string) => Promise<string> | string,
  body: (nats: NatsServer, dir: string) => Promise<void>,
  tls?: (dir: string) => Promise<PrivateCa>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "session-audit-startup-" });
  const ca = tls ? await tls(dir) : undefined;
  const nats = await startNatsServer({
    extraConfig: await extraConfig(dir),
    websocketTls: ca && { certFile: ca.certFile, keyFile: ca.keyFile },
  });
  try {
    await body(nats, dir);
  } finally {
    await nats.stop();
    await Deno.remove(nats.dir, { recursive: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Asserts exit code 2 and exactly one plain line: the configuration error naming `variable`. */
function assertRefused(exit: { code: number; lines: string[] }, variable: string): string {
  const plain = plainLines(exit.lines);
  equal(exit.code, 2, exit.lines.join("\n"));
  equal(plain.length, 1, `one plain line, got:\n${plain.join("\n")}`);
  ok(
    plain[0].startsWith(`session-audit: configuration error: ${variable}: `),
    `the line names ${variable}: ${plain[0]}`,
  );
  return plain[0];
}

/** The service once, against `natsUrl`, with its database in `dir`. */
function runOnce(dir: string, natsUrl: string, env: Record<string, string> = {}) {
  return runToExit({ NATS_URL: natsUrl, DATABASE_URL: `file:${dir}/audit.db`, ...env });
}

/** Starts the service and waits for its "nats connected" line (the positive control). */
async function connects(dir: string, natsUrl: string, env: Record<string, string>) {
  const service = await startService({ natsUrl, databasePath: `${dir}/ok.db`, env });
  try {
    await waitFor("nats connected", () => service.logs.some((l) => l.includes('"nats connected"')));
  } finally {
    equal((await service.stop()).code, 0, service.logs.join("\n"));
  }
}

Deno.test(
  "a wrong NATS_TOKEN stops start-up with exit 2 and one line naming it",
  opts,
  () =>
    withNats(() => 'authorization { token: "the-right-token" }', async (nats, dir) => {
      const line = assertRefused(
        await runOnce(dir, nats.wsUrl, { NATS_TOKEN: "a-wrong-token" }),
        "NATS_TOKEN",
      );
      ok(!line.includes("a-wrong-token"), "the token is not echoed");
      match(line, /refused the token/);
      await connects(dir, nats.wsUrl, { NATS_TOKEN: "the-right-token" });
    }),
);

Deno.test(
  "a wrong NATS_USER or NATS_PASSWORD stops start-up with exit 2 naming them",
  opts,
  () =>
    withNats(
      () => 'authorization { users: [ { user: "audit", password: "right-password" } ] }',
      async (nats, dir) => {
        const wrongPassword = await runOnce(dir, nats.wsUrl, {
          NATS_USER: "audit",
          NATS_PASSWORD: "wrong-password",
        });
        const line = assertRefused(wrongPassword, "NATS_USER/NATS_PASSWORD");
        ok(!line.includes("wrong-password"), "the password is not echoed");
        assertRefused(
          await runOnce(dir, nats.wsUrl, { NATS_USER: "nobody", NATS_PASSWORD: "right-password" }),
          "NATS_USER/NATS_PASSWORD",
        );
        // No credentials at all, to a server that wants some: every way to give them is named.
        assertRefused(
          await runOnce(dir, nats.wsUrl),
          "NATS_TOKEN, NATS_USER/NATS_PASSWORD or NATS_CREDS_FILE",
        );
        await connects(dir, nats.wsUrl, { NATS_USER: "audit", NATS_PASSWORD: "right-password" });
      },
    ),
);

Deno.test("a NATS_CREDS_FILE the server rejects stops start-up with exit 2 naming it", opts, () => {
  let mode: Awaited<ReturnType<typeof operatorMode>>;
  return withNats(async (dir) => {
    mode = await operatorMode(dir);
    return mode.serverConfig;
  }, async (nats, dir) => {
    await Deno.writeTextFile(`${dir}/stranger.creds`, mode.strangerUser());
    const line = assertRefused(
      await runOnce(dir, nats.wsUrl, { NATS_CREDS_FILE: `${dir}/stranger.creds` }),
      "NATS_CREDS_FILE",
    );
    ok(line.includes("stranger.creds"), line);
    await Deno.writeTextFile(`${dir}/trusted.creds`, mode.trustedUser());
    await connects(dir, nats.wsUrl, { NATS_CREDS_FILE: `${dir}/trusted.creds` });
  });
});

Deno.test(
  "a NATS_CREDS_FILE that is missing, unreadable or not credentials stops start-up before connecting",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "session-audit-creds-" });
    try {
      // Nothing listens there: the file is checked while the configuration is read.
      const nowhere = `ws://127.0.0.1:${freePort()}`;
      await Deno.writeTextFile(`${dir}/garbage.creds`, "not a credentials file\n");
      await Deno.mkdir(`${dir}/a-directory.creds`);
      for (
        const [path, problem] of [
          [`${dir}/missing.creds`, /no such file/],
          [`${dir}/a-directory.creds`, /cannot be read/],
          [`${dir}/garbage.creds`, /not a NATS credentials file/],
        ] as const
      ) {
        const exit = await runOnce(dir, nowhere, { NATS_CREDS_FILE: path });
        match(assertRefused(exit, "NATS_CREDS_FILE"), problem);
        ok(!exit.lines.some((l) => l.includes("connecting to nats")), "never tried to connect");
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "wss:// to a gateway whose certificate comes from a CA given in DENO_CERT connects",
  opts,
  () =>
    withNats(() => "", async (nats, dir) => {
      ok(nats.wsUrl.startsWith("wss://"), nats.wsUrl);
      const service = await startService({
        natsUrl: nats.wsUrl,
        databasePath: `${dir}/audit.db`,
        env: { DENO_CERT: `${dir}/ca.pem` },
      });
      try {
        await waitFor(
          "nats connected over wss://",
          () => service.logs.some((l) => l.includes('"nats connected"')),
        );
        ok(!service.logs.some((l) => l.includes("certificate")), service.logs.join("\n"));
        // The stream does not exist on this fresh server: ready as far as NATS goes.
        const reasons = ((await service.get("/readyz")).body as { reasons?: object }).reasons;
        equal(reasons && "nats" in reasons, false, JSON.stringify(reasons));
      } finally {
        equal((await service.stop()).code, 0, service.logs.join("\n"));
      }
    }, makePrivateCa),
);

Deno.test(
  "wss:// to a certificate that cannot be verified logs why at growing intervals and /readyz says so",
  opts,
  () =>
    withNats(() => "", async (nats, dir) => {
      const service = await startService({ natsUrl: nats.wsUrl, databasePath: `${dir}/audit.db` });
      try {
        type Line = {
          msg: string;
          nats_url?: string;
          certificate_problem?: string;
          retry_in_ms: number;
        };
        const certificateLines = () =>
          service.logs.filter((l) => l.includes("certificate cannot be verified"))
            .map((l) => JSON.parse(l) as Line);
        const lines = await waitFor("two certificate log lines", () => {
          const found = certificateLines();
          return found.length >= 2 ? found : undefined;
        });
        equal(lines[0].nats_url, nats.wsUrl);
        equal(lines[0].certificate_problem, "UnknownIssuer");
        match(lines[0].msg, /DENO_CERT/);
        ok(lines[1].retry_in_ms > lines[0].retry_in_ms, "the interval grows");
        const ready = await service.get("/readyz");
        equal(ready.status, 503);
        match(
          JSON.stringify(ready.body),
          /certificate of the NATS server at wss:\/\/127\.0\.0\.1:\d+ cannot be verified \(UnknownIssuer\)/,
        );
      } finally {
        // Still retrying, not exited: SIGTERM ends the wait cleanly.
        equal((await service.stop()).code, 0, service.logs.join("\n"));
      }
    }, makePrivateCa),
);

Deno.test(
  "a DENO_CERT that is missing or holds no certificate stops start-up with exit 2",
  opts,
  () =>
    withNats(() => "", async (nats, dir) => {
      await Deno.writeTextFile(`${dir}/garbage.pem`, "not a certificate\n");
      match(
        assertRefused(
          await runOnce(dir, nats.wsUrl, { DENO_CERT: `${dir}/nope.pem` }),
          "DENO_CERT",
        ),
        /no such file/,
      );
      match(
        assertRefused(
          await runOnce(dir, nats.wsUrl, { DENO_CERT: `${dir}/garbage.pem` }),
          "DENO_CERT",
        ),
        /holds no PEM certificate/,
      );
    }, makePrivateCa),
);

Deno.test(
  "wss:// to a gateway without TLS stops start-up with exit 2 naming NATS_URL",
  opts,
  () =>
    withNats(() => "", async (nats, dir) => {
      const plain = nats.wsUrl.replace("ws://", "wss://");
      match(assertRefused(await runOnce(dir, plain), "NATS_URL"), /answered without it/);
    }),
);

Deno.test(
  "an unreachable NATS is retried at growing intervals, named by /readyz, and joined once it is up",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "session-audit-unreachable-" });
    const wsPort = freePort();
    const service = await startService({
      natsUrl: `ws://127.0.0.1:${wsPort}`,
      databasePath: `${dir}/audit.db`,
    });
    let nats: NatsServer | undefined;
    try {
      const retries = await waitFor("three retry lines", () => {
        const found = service.logs.filter((l) => l.includes('"nats unreachable; retrying"'))
          .map((l) => JSON.parse(l) as { retry_in_ms: number; attempt: number });
        return found.length >= 3 ? found : undefined;
      });
      deepStrictEqual(retries.slice(0, 3).map((r) => r.attempt), [1, 2, 3]);
      ok(
        retries[0].retry_in_ms < retries[1].retry_in_ms &&
          retries[1].retry_in_ms < retries[2].retry_in_ms,
        `growing intervals: ${retries.map((r) => r.retry_in_ms).join(", ")}`,
      );
      const ready = await service.get("/readyz");
      equal(ready.status, 503);
      match(JSON.stringify(ready.body), /cannot reach NATS at ws:\/\/127\.0\.0\.1:\d+/);

      nats = await startNatsServer({ wsPort });
      await waitFor(
        "connected once NATS is up",
        () => service.logs.some((l) => l.includes('"nats connected"')),
        60_000,
      );
      // Ready as far as NATS goes (the stream does not exist on this fresh server).
      const after = await service.get("/readyz");
      const reasons = (after.body as { reasons?: Record<string, string> }).reasons ?? {};
      equal(reasons.nats, undefined, JSON.stringify(after.body));
    } finally {
      equal((await service.stop()).code, 0, service.logs.join("\n"));
      await nats?.stop();
      if (nats) await Deno.remove(nats.dir, { recursive: true }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
);
