import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { AuthorizationError, errors, UserAuthenticationExpiredError } from "@nats-io/nats-core";
import type { NatsAuth } from "../config_nats.ts";
import { classifyConnectError } from "./refusal.ts";

const SERVERS = "wss://nats.example:443";
const TOKEN: NatsAuth = { kind: "token", token: "secret-token" };

Deno.test("an Authorization Violation is a refusal naming the variable of the auth in use", () => {
  const cases: [NatsAuth, string][] = [
    [TOKEN, "NATS_TOKEN"],
    [{ kind: "userPassword", user: "audit", password: "pw" }, "NATS_USER/NATS_PASSWORD"],
    [{ kind: "credsFile", path: "/etc/audit.creds" }, "NATS_CREDS_FILE"],
    [{ kind: "none" }, "NATS_TOKEN, NATS_USER/NATS_PASSWORD or NATS_CREDS_FILE"],
  ];
  for (const [auth, variable] of cases) {
    const failure = classifyConnectError(
      new AuthorizationError("Authorization Violation"),
      auth,
      SERVERS,
    );
    equal(failure.kind, "refused");
    if (failure.kind !== "refused") continue;
    equal(failure.variable, variable);
    ok(failure.problem.includes(SERVERS), failure.problem);
    ok(
      !failure.problem.includes("secret-token") && !failure.problem.includes('"pw"'),
      failure.problem,
    );
  }
});

Deno.test("an expired user JWT is a refusal naming NATS_CREDS_FILE", () => {
  const failure = classifyConnectError(
    new UserAuthenticationExpiredError("User Authentication Expired"),
    { kind: "credsFile", path: "/x.creds" },
    SERVERS,
  );
  deepStrictEqual([failure.kind, failure.kind === "refused" && failure.variable], [
    "refused",
    "NATS_CREDS_FILE",
  ]);
});

Deno.test("a certificate that cannot be verified is retried, with the problem named", () => {
  for (
    const [message, problem] of [
      [
        "NetworkError: failed to connect to WebSocket: invalid peer certificate: UnknownIssuer",
        "UnknownIssuer",
      ],
      [
        "failed to connect to WebSocket: invalid peer certificate: NotValidForName",
        "NotValidForName",
      ],
      ["failed to connect to WebSocket: invalid peer certificate: Expired", "Expired"],
      [
        "self-signed certificate in certificate chain",
        "self-signed certificate in certificate chain",
      ],
      ["certificate has expired", "certificate has expired"],
    ]
  ) {
    const failure = classifyConnectError(new errors.ConnectionError(message), TOKEN, SERVERS);
    equal(failure.kind, "unreachable", message);
    if (failure.kind !== "unreachable") continue;
    equal(failure.certificate, problem);
    ok(failure.reason.includes(SERVERS) && failure.reason.includes(problem), failure.reason);
  }
});

Deno.test("TLS to a plain listener and an unusable CA file are refusals", () => {
  for (
    const [message, variable] of [
      [
        "NetworkError: failed to connect to WebSocket: received corrupt message of type InvalidContentType",
        "NATS_URL",
      ],
      ["Error: Failed opening CA file: No such file or directory (os error 2)", "DENO_CERT"],
    ]
  ) {
    const failure = classifyConnectError(new errors.ConnectionError(message), TOKEN, SERVERS);
    equal(failure.kind === "refused" && failure.variable, variable, message);
  }
});

Deno.test("a refused TCP connection, a timeout or anything unknown is retried", () => {
  for (
    const err of [
      new errors.ConnectionError("NetworkError: failed to connect to WebSocket: tcp connect error"),
      new Error("ECONNREFUSED"),
      new errors.TimeoutError(),
      "a string",
    ]
  ) {
    const failure = classifyConnectError(err, TOKEN, SERVERS);
    equal(failure.kind, "unreachable", String(err));
    ok(failure.kind === "unreachable" && failure.certificate === undefined);
    ok(
      failure.kind === "unreachable" &&
        failure.reason.startsWith(`cannot reach NATS at ${SERVERS}`),
    );
  }
});
