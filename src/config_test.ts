import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { loadConfig } from "./config.ts";
import { rejects } from "./testing/config_errors.ts";

const SECRET = "s".repeat(32);

Deno.test("an empty environment gives the defaults of SPEC §3", () => {
  const config = loadConfig({});
  deepStrictEqual(config.natsServers, ["ws://127.0.0.1:8080"]);
  equal(config.natsTransport, "websocket");
  deepStrictEqual(config.natsAuth, { kind: "none" });
  equal(config.stream, "DEVICE_EVENTS");
  equal(config.subject, "audit.session.end.>");
  equal(config.durable, "api-session-audit-consumer");
  equal(config.databaseUrl, "file:data/audit.db");
  equal(config.databaseAuthToken, undefined);
  equal(config.databaseSyncUrl, undefined);
  equal(config.host, "127.0.0.1");
  equal(config.port, 8000);
  equal(config.apiJwtSecret, undefined);
  deepStrictEqual(config.apiCorsOrigins, []);
  equal(config.logLevel, "info");
  equal(config.role, "all");
  equal(config.ingestBatchSize, 500);
  equal(config.lagWarnShare, 0.25);
});

Deno.test("empty and blank variables count as unset", () => {
  const config = loadConfig({ NATS_URL: "", PORT: "  ", LOG_LEVEL: "", DATABASE_URL: " " });
  deepStrictEqual(config.natsServers, ["ws://127.0.0.1:8080"]);
  equal(config.port, 8000);
  equal(config.logLevel, "info");
  equal(config.databaseUrl, "file:data/audit.db");
});

Deno.test("every variable set to a good value is taken as given", () => {
  const config = loadConfig({
    NATS_URL: "wss://nats.example:443",
    NATS_STREAM: "OTHER_EVENTS",
    NATS_SUBJECT: "audit.*.end.>",
    NATS_DURABLE: "audit-2",
    DATABASE_URL: "libsql://audit.turso.io",
    DATABASE_AUTH_TOKEN: "tok",
    HOST: "0.0.0.0",
    PORT: "9090",
    API_JWT_SECRET: SECRET,
    API_CORS_ORIGINS: "https://a.example, http://b.example:8080",
    LOG_LEVEL: "WARN",
    ROLE: "api",
    INGEST_BATCH_SIZE: "100",
  });
  deepStrictEqual(config.natsServers, ["wss://nats.example:443"]);
  equal(config.stream, "OTHER_EVENTS");
  equal(config.subject, "audit.*.end.>");
  equal(config.durable, "audit-2");
  equal(config.databaseUrl, "libsql://audit.turso.io");
  equal(config.databaseAuthToken, "tok");
  equal(config.host, "0.0.0.0");
  equal(config.port, 9090);
  equal(config.apiJwtSecret, SECRET);
  deepStrictEqual(config.apiCorsOrigins, ["https://a.example", "http://b.example:8080"]);
  equal(config.logLevel, "warn");
  equal(config.role, "api");
  equal(config.ingestBatchSize, 100);
});

Deno.test("NATS_URL is a comma-separated list of servers, blanks around commas ignored", () => {
  const config = loadConfig({ NATS_URL: "nats://a:4222, nats://b:4222,,tls://c:4222 " });
  deepStrictEqual(config.natsServers, ["nats://a:4222", "nats://b:4222", "tls://c:4222"]);
});

Deno.test("ws:// and wss:// use the WebSocket transport, nats:// and tls:// plain TCP", () => {
  equal(loadConfig({ NATS_URL: "ws://h:8080" }).natsTransport, "websocket");
  equal(loadConfig({ NATS_URL: "wss://h:443,ws://g:8080" }).natsTransport, "websocket");
  equal(loadConfig({ NATS_URL: "nats://h:4222" }).natsTransport, "tcp");
  equal(loadConfig({ NATS_URL: "tls://h:4222,nats://g:4222" }).natsTransport, "tcp");
});

Deno.test("each NATS authentication method is read on its own", () => {
  deepStrictEqual(loadConfig({ NATS_TOKEN: "t0k" }).natsAuth, { kind: "token", token: "t0k" });
  deepStrictEqual(loadConfig({ NATS_USER: "u", NATS_PASSWORD: "p" }).natsAuth, {
    kind: "userPassword",
    user: "u",
    password: "p",
  });
  // NATS_CREDS_FILE: with a real file, in "NATS_CREDS_FILE must be a readable credentials file".
});

Deno.test("a file: DATABASE_URL may have a DATABASE_SYNC_URL (embedded replica)", () => {
  const config = loadConfig({
    DATABASE_URL: "file:replica.db",
    DATABASE_SYNC_URL: "libsql://primary.turso.io",
  });
  equal(config.databaseSyncUrl, "libsql://primary.turso.io");
});

Deno.test("PORT=abc is rejected naming PORT and its value", () => {
  const err = rejects({ PORT: "abc" }, "PORT");
  match(err.message, /"abc"/);
  match(err.message, /0 to 65535/);
});

Deno.test("PORT=70000 is rejected naming PORT and its value", () => {
  const err = rejects({ PORT: "70000" }, "PORT");
  match(err.message, /"70000"/);
});

Deno.test("a value with a line break still gives a one-line message", () => {
  const err = rejects({ PORT: "80\n80" }, "PORT");
  match(err.message, /"80\\n80"/);
});

Deno.test("LOG_LEVEL=verbose is rejected naming LOG_LEVEL, its value and the allowed levels", () => {
  const err = rejects({ LOG_LEVEL: "verbose" }, "LOG_LEVEL");
  match(err.message, /"verbose"/);
  match(err.message, /debug, info, warn, error/);
});

Deno.test("NATS_URL=http://x is rejected naming NATS_URL and its value", () => {
  const err = rejects({ NATS_URL: "http://x" }, "NATS_URL");
  match(err.message, /"http:\/\/x"/);
  match(err.message, /ws:\/\//);
});

Deno.test("NATS_URL that is not a URL is rejected naming its value", () => {
  const err = rejects({ NATS_URL: "not a url" }, "NATS_URL");
  match(err.message, /"not a url"/);
});

Deno.test("NATS_URL with only commas names no server", () => {
  rejects({ NATS_URL: ", ," }, "NATS_URL");
});

Deno.test("NATS_URL mixing ws:// and nats:// servers is rejected", () => {
  const err = rejects({ NATS_URL: "ws://a:8080,nats://b:4222" }, "NATS_URL");
  match(err.message, /mixes WebSocket/);
});

Deno.test("DATABASE_URL=postgres://… is rejected naming DATABASE_URL and its value", () => {
  const err = rejects({ DATABASE_URL: "postgres://db.example/audit" }, "DATABASE_URL");
  match(err.message, /"postgres:\/\/db\.example\/audit"/);
});

Deno.test("DATABASE_URL that is not a URL is rejected with a hint", () => {
  const err = rejects({ DATABASE_URL: "data/audit.db" }, "DATABASE_URL");
  match(err.message, /"data\/audit\.db"/);
  match(err.message, /file:data\/audit\.db/);
});

Deno.test("DATABASE_SYNC_URL with a non-file DATABASE_URL is rejected naming DATABASE_SYNC_URL", () => {
  const err = rejects({
    DATABASE_URL: "libsql://audit.turso.io",
    DATABASE_SYNC_URL: "libsql://primary.turso.io",
  }, "DATABASE_SYNC_URL");
  match(err.message, /DATABASE_URL/);
});

Deno.test("NATS_PASSWORD without NATS_USER is rejected without echoing the password", () => {
  const err = rejects({ NATS_PASSWORD: "hunter2-secret" }, "NATS_PASSWORD");
  match(err.message, /NATS_USER/);
  ok(!err.message.includes("hunter2-secret"), err.message);
});

Deno.test("two NATS authentication methods are rejected naming both, secrets not echoed", () => {
  const err = rejects({ NATS_TOKEN: "tok-secret", NATS_USER: "alice" }, "NATS_USER");
  match(err.message, /NATS_TOKEN/);
  ok(!err.message.includes("tok-secret"), err.message);

  const creds = rejects({ NATS_USER: "alice", NATS_CREDS_FILE: "/a.creds" }, "NATS_CREDS_FILE");
  match(creds.message, /NATS_USER/);
});

Deno.test("an API_JWT_SECRET shorter than 32 characters is rejected by length, not echoed", () => {
  const err = rejects({ API_JWT_SECRET: "short-secret" }, "API_JWT_SECRET");
  match(err.message, /current length is 12/);
  ok(!err.message.includes("short-secret"), err.message);
  equal(loadConfig({ API_JWT_SECRET: SECRET }).apiJwtSecret, SECRET);
});

Deno.test("an API_CORS_ORIGINS entry that is not an origin is rejected naming it", () => {
  const err = rejects(
    { API_CORS_ORIGINS: "https://ok.example,ftp://bad.example" },
    "API_CORS_ORIGINS",
  );
  match(err.message, /"ftp:\/\/bad\.example"/);

  const withPath = rejects({ API_CORS_ORIGINS: "https://ok.example/path" }, "API_CORS_ORIGINS");
  match(withPath.message, /"https:\/\/ok\.example\/path"/);
});

Deno.test("ROLE=foo is rejected naming ROLE, its value and the roles", () => {
  const err = rejects({ ROLE: "foo" }, "ROLE");
  match(err.message, /"foo"/);
  match(err.message, /all, ingest, api/);
});

Deno.test("INGEST_BATCH_SIZE=0 is rejected naming INGEST_BATCH_SIZE and its value", () => {
  const err = rejects({ INGEST_BATCH_SIZE: "0" }, "INGEST_BATCH_SIZE");
  match(err.message, /"0"/);
  match(err.message, /1 to 5000/);
});

Deno.test("bad stream, subject, durable and host names are rejected naming their variable", () => {
  for (
    const [variable, value] of [
      ["NATS_STREAM", "DEVICE EVENTS"],
      ["NATS_SUBJECT", "audit..end"],
      ["NATS_SUBJECT", "audit.>.end"],
      ["NATS_DURABLE", "a.b"],
      ["HOST", "a host"],
    ]
  ) {
    const err = rejects({ [variable]: value }, variable);
    ok(err.message.includes(JSON.stringify(value)), err.message);
  }
});

Deno.test("CLOCK_SKEW_SECONDS: default 300, 0 to 86400, anything else named with its value", () => {
  equal(loadConfig({}).clockSkewSeconds, 300);
  equal(loadConfig({ CLOCK_SKEW_SECONDS: "0" }).clockSkewSeconds, 0);
  equal(loadConfig({ CLOCK_SKEW_SECONDS: "86400" }).clockSkewSeconds, 86_400);
  for (const bad of ["-1", "5m", "1.5", "86401"]) {
    const err = rejects({ CLOCK_SKEW_SECONDS: bad }, "CLOCK_SKEW_SECONDS");
    match(err.message, new RegExp(`current value is "${bad.replace(".", "\\.")}"`));
  }
});

Deno.test("LAG_WARN_SHARE takes a share from 0 to 1", () => {
  equal(loadConfig({ LAG_WARN_SHARE: "0.5" }).lagWarnShare, 0.5);
  equal(loadConfig({ LAG_WARN_SHARE: ".1" }).lagWarnShare, 0.1);
  equal(loadConfig({ LAG_WARN_SHARE: "0" }).lagWarnShare, 0);
  equal(loadConfig({ LAG_WARN_SHARE: "1" }).lagWarnShare, 1);
});

Deno.test("LAG_WARN_SHARE outside 0..1 or not a number is rejected naming it and its value", () => {
  for (const bad of ["1.5", "2", "-0.1", "abc", "25%"]) {
    const err = rejects({ LAG_WARN_SHARE: bad }, "LAG_WARN_SHARE");
    ok(err.message.includes(JSON.stringify(bad)), err.message);
  }
});

Deno.test("a bad NATS_URL is reported without the password it carries", () => {
  const err = rejects({ NATS_URL: "http://alice:hunter2@nats.example:4222" }, "NATS_URL");
  ok(!err.message.includes("hunter2"), `password echoed: ${err.message}`);
  match(err.message, /\*\*\*@nats\.example/);
});

Deno.test("NATS_CREDS_FILE must be a readable credentials file, checked while loading", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = rejects({ NATS_CREDS_FILE: `${dir}/missing.creds` }, "NATS_CREDS_FILE");
    match(missing.message, /no such file/);
    rejects({ NATS_CREDS_FILE: dir }, "NATS_CREDS_FILE");
    await Deno.writeTextFile(`${dir}/garbage.creds`, "hello\n");
    match(
      rejects({ NATS_CREDS_FILE: `${dir}/garbage.creds` }, "NATS_CREDS_FILE").message,
      /not a NATS credentials file/,
    );
    const block = (name: string, body: string) =>
      `-----BEGIN ${name}-----\n${body}\n------END ${name}------\n`;
    const jwt = "eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJVIn0.c2ln";
    await Deno.writeTextFile(
      `${dir}/bad-seed.creds`,
      block("NATS USER JWT", jwt) + "\n" + block("USER NKEY SEED", "SUNOTASEED"),
    );
    const badSeed = rejects({ NATS_CREDS_FILE: `${dir}/bad-seed.creds` }, "NATS_CREDS_FILE");
    match(badSeed.message, /not a user NKey seed/);
    ok(!badSeed.message.includes("SUNOTASEED"), "the seed is not echoed");
    const { nkeys } = await import("@nats-io/nats-core");
    const seed = new TextDecoder().decode(nkeys.createUser().getSeed());
    await Deno.writeTextFile(
      `${dir}/good.creds`,
      block("NATS USER JWT", jwt) + "\n" + block("USER NKEY SEED", seed),
    );
    deepStrictEqual(loadConfig({ NATS_CREDS_FILE: `${dir}/good.creds` }).natsAuth, {
      kind: "credsFile",
      path: `${dir}/good.creds`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("DENO_CERT, when set, must name a readable file holding a PEM certificate", async () => {
  const dir = await Deno.makeTempDir();
  try {
    match(
      rejects({ DENO_CERT: `${dir}/none.pem` }, "DENO_CERT").message,
      /^DENO_CERT: ".*" cannot be read: no such file/,
    );
    await Deno.writeTextFile(`${dir}/garbage.pem`, "garbage");
    match(
      rejects({ DENO_CERT: `${dir}/garbage.pem` }, "DENO_CERT").message,
      /holds no PEM certificate/,
    );
    await Deno.writeTextFile(
      `${dir}/ca.pem`,
      "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n",
    );
    ok(loadConfig({ DENO_CERT: `${dir}/ca.pem` }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the read API's token settings default to HS256 only, leeway 60 s, admin and super_admin", () => {
  const { apiAuth } = loadConfig({ API_JWT_SECRET: SECRET });
  deepStrictEqual(apiAuth, {
    jwksUrl: undefined,
    jwksIssuer: undefined,
    jwksAudience: undefined,
    leewaySeconds: 60,
    adminRoles: ["admin", "super_admin"],
    readRoles: undefined,
    cursorSecret: SECRET,
  });
});

Deno.test("the token settings are read as given", () => {
  const { apiAuth } = loadConfig({
    API_JWT_SECRET: SECRET,
    API_JWKS_URL: "https://idp.example/realms/ops/protocol/openid-connect/certs",
    API_JWKS_ISSUER: "https://idp.example/realms/ops",
    API_JWKS_AUDIENCE: "session-audit",
    API_JWT_LEEWAY_SECONDS: "15",
    API_ADMIN_ROLES: "super_admin, auditor",
    API_READ_ROLES: "super_admin,tenant_admin,operator",
    API_CURSOR_SECRET: "c".repeat(32),
  });
  deepStrictEqual(apiAuth, {
    jwksUrl: "https://idp.example/realms/ops/protocol/openid-connect/certs",
    jwksIssuer: "https://idp.example/realms/ops",
    jwksAudience: "session-audit",
    leewaySeconds: 15,
    adminRoles: ["super_admin", "auditor"],
    readRoles: ["super_admin", "tenant_admin", "operator"],
    cursorSecret: "c".repeat(32),
  });
  equal(
    loadConfig({ API_JWKS_URL: "http://127.0.0.1:8080/jwks", API_CURSOR_SECRET: SECRET })
      .apiAuth.jwksUrl,
    "http://127.0.0.1:8080/jwks",
  );
});

Deno.test("bad token settings stop start-up naming their variable", () => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [
      { API_JWKS_URL: "idp.example/jwks" },
      "API_JWKS_URL",
      /URL starting with https:\/\/.*"idp\.example\/jwks"/,
    ],
    [{ API_JWKS_URL: "http://idp.example/jwks" }, "API_JWKS_URL", /http:\/\/ only on the loopback/],
    [{ API_JWKS_URL: "ftp://idp.example/jwks" }, "API_JWKS_URL", /https:\/\//],
    [{ API_JWKS_URL: "https://u:p@idp.example/jwks" }, "API_JWKS_URL", /credentials/],
    [{ API_JWKS_ISSUER: "https://idp.example" }, "API_JWKS_ISSUER", /set API_JWKS_URL/],
    [{ API_JWKS_AUDIENCE: "session-audit" }, "API_JWKS_AUDIENCE", /set API_JWKS_URL/],
    [{ API_JWT_LEEWAY_SECONDS: "-1" }, "API_JWT_LEEWAY_SECONDS", /0 to 300.*"-1"/],
    [{ API_JWT_LEEWAY_SECONDS: "301" }, "API_JWT_LEEWAY_SECONDS", /0 to 300/],
    [{ API_JWT_LEEWAY_SECONDS: "1m" }, "API_JWT_LEEWAY_SECONDS", /seconds from 0 to 300.*"1m"/],
    [
      { API_ADMIN_ROLES: "admin, super admin" },
      "API_ADMIN_ROLES",
      /roles of 1-64 letters.*"super admin"/,
    ],
    [{ API_READ_ROLES: " , " }, "API_READ_ROLES", /names nothing/],
    [
      { API_CURSOR_SECRET: "short" },
      "API_CURSOR_SECRET",
      /at least 32 characters: current length is 5/,
    ],
    [
      { API_JWT_SECRET: "", API_JWKS_URL: "https://idp.example/jwks" },
      "API_CURSOR_SECRET",
      /needed to sign page cursors/,
    ],
  ];
  for (const [env, variable, message] of cases) {
    const err = rejects({ API_JWT_SECRET: SECRET, ...env }, variable);
    match(err.message, message);
  }
  ok(
    !rejects({ API_CURSOR_SECRET: "hunter2" }, "API_CURSOR_SECRET").message.includes("hunter2"),
    "secret echoed",
  );
});

Deno.test("DATABASE_BUSY_TIMEOUT_MS defaults to 2 s and is validated", () => {
  equal(loadConfig({}).databaseBusyTimeoutMs, 2000);
  equal(loadConfig({ DATABASE_BUSY_TIMEOUT_MS: "30000" }).databaseBusyTimeoutMs, 30000);
  for (const bad of ["99", "600001", "2s", "-1"]) {
    rejects({ DATABASE_BUSY_TIMEOUT_MS: bad }, "DATABASE_BUSY_TIMEOUT_MS");
  }
});
