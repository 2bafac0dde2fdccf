/**
 * Starts and stops a local `nats-server` with JetStream and the WebSocket
 * gateway on loopback, for `deno task dev`, the tests and the benchmark.
 *
 * @module
 */

/** Options for {@linkcode startNatsServer}. */
export interface NatsServerOptions {
  /** Directory for the JetStream store and the config file. @default a new temporary directory */
  dir?: string;
  /** Client (TCP) port. @default a free loopback port */
  port?: number;
  /** WebSocket port. @default a free loopback port */
  wsPort?: number;
  /**
   * Serve the WebSocket gateway over TLS with this certificate and key
   * (PEM files): `wsUrl` is then `wss://`. @default plain WebSocket
   */
  websocketTls?: { certFile: string; keyFile: string };
  /** Extra lines appended to the generated config (cluster blocks, auth, ...). @default "" */
  extraConfig?: string;
  /** Server name, needed in a cluster. @default undefined */
  serverName?: string;
  /** Forward the server's log to stderr. @default false */
  verbose?: boolean;
  /**
   * Run the server in its own session, so a terminal's Ctrl-C reaches only
   * the parent, which then stops it after its clients. @default false
   */
  detached?: boolean;
}

/** A running nats-server started by {@linkcode startNatsServer}. */
export interface NatsServer {
  /** `ws://127.0.0.1:<wsPort>` (`wss://` with `websocketTls`): the WebSocket gateway the service uses. */
  readonly wsUrl: string;
  /** `nats://127.0.0.1:<port>`: the plain TCP listener. */
  readonly natsUrl: string;
  readonly port: number;
  readonly wsPort: number;
  /** Store and config directory. */
  readonly dir: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s). Keeps `dir`. */
  stop(): Promise<void>;
  /** Kills the server at once (SIGKILL), as a crash would. Keeps `dir`. */
  kill(): Promise<void>;
  /** Starts the server again on the same ports and store. */
  restart(): Promise<void>;
}

/** Returns a TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Finds the nats-server binary: `$NATS_SERVER_BIN`, the PATH, then /usr/sbin. */
export async function findNatsServer(): Promise<string | undefined> {
  const fromEnv = Deno.env.get("NATS_SERVER_BIN");
  if (fromEnv) return fromEnv;
  const dirs = (Deno.env.get("PATH") ?? "").split(":").concat([
    "/usr/sbin",
    "/usr/local/sbin",
    "/sbin",
  ]);
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = `${dir}/nats-server`;
    try {
      const info = await Deno.stat(candidate);
      if (info.isFile) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Returns the nats-server binary, installing Debian's package with apt-get
 * when it is missing and this is a Debian/Ubuntu machine where we are root.
 * Otherwise throws one line that says how to install it.
 */
export async function ensureNatsServer(): Promise<string> {
  const found = await findNatsServer();
  if (found) return found;
  const isRoot = Deno.uid?.() === 0;
  let hasApt = false;
  try {
    hasApt = (await Deno.stat("/usr/bin/apt-get")).isFile;
  } catch {
    hasApt = false;
  }
  if (isRoot && hasApt) {
    console.error("nats-server not found: installing it with apt-get ...");
    for (
      const args of [["update", "-qq"], ["install", "-y", "-qq", "nats-server"]]
    ) {
      const out = await new Deno.Command("apt-get", {
        args,
        stdout: "inherit",
        stderr: "inherit",
        env: { DEBIAN_FRONTEND: "noninteractive" },
      }).output();
      if (!out.success) break;
    }
    const installed = await findNatsServer();
    if (installed) return installed;
  }
  throw new Error(
    "nats-server is not installed: install it (Debian/Ubuntu: `sudo apt-get install nats-server`; " +
      "elsewhere: https://docs.nats.io/running-a-nats-service/introduction/installation) " +
      "or set NATS_SERVER_BIN to its path",
  );
}

async function waitForPort(port: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return true;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return false;
}

/** Starts nats-server with JetStream and WebSocket on loopback and waits until both listen. */
export async function startNatsServer(
  options: NatsServerOptions = {},
): Promise<NatsServer> {
  const bin = await ensureNatsServer();
  const dir = options.dir ??
    await Deno.makeTempDir({ prefix: "session-audit-nats-" });
  await Deno.mkdir(`${dir}/jetstream`, { recursive: true });
  const port = options.port ?? freePort();
  const wsPort = options.wsPort ?? freePort();
  const lines = [
    `listen: "127.0.0.1:${port}"`,
    options.serverName ? `server_name: "${options.serverName}"` : "",
    `jetstream { store_dir: "${dir}/jetstream" }`,
    options.websocketTls
      ? `websocket { listen: "127.0.0.1:${wsPort}", tls { cert_file: "${options.websocketTls.certFile}", key_file: "${options.websocketTls.keyFile}" } }`
      : `websocket { listen: "127.0.0.1:${wsPort}", no_tls: true }`,
    options.extraConfig ?? "",
  ];
  const configPath = `${dir}/nats-server.conf`;
  await Deno.writeTextFile(configPath, lines.filter(Boolean).join("\n") + "\n");

  let child: Deno.ChildProcess | undefined;
  const spawn = async () => {
    child = new Deno.Command(bin, {
      args: ["-c", configPath],
      stdout: options.verbose ? "inherit" : "null",
      stderr: options.verbose ? "inherit" : "null",
      stdin: "null",
      detached: options.detached ?? false,
    }).spawn();
    const ok = await waitForPort(port, 10_000) &&
      await waitForPort(wsPort, 10_000);
    if (!ok) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      throw new Error(
        `nats-server did not start listening on ${port}/${wsPort} within 10 s`,
      );
    }
  };
  const terminate = async (signal: Deno.Signal) => {
    const running = child;
    if (!running) return;
    child = undefined;
    try {
      running.kill(signal);
    } catch {
      // already exited
    }
    const timer = setTimeout(() => {
      try {
        running.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5_000);
    await running.status;
    clearTimeout(timer);
  };

  await spawn();
  return {
    wsUrl: `${options.websocketTls ? "wss" : "ws"}://127.0.0.1:${wsPort}`,
    natsUrl: `nats://127.0.0.1:${port}`,
    port,
    wsPort,
    dir,
    stop: () => terminate("SIGTERM"),
    kill: () => terminate("SIGKILL"),
    restart: async () => {
      await terminate("SIGTERM");
      await spawn();
    },
  };
}
