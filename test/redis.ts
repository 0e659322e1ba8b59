/**
 * A real redis-server for tests, on a free port, with no persistence; it can be killed and restarted on
 * the same port to play an outage.
 */
import { existsSync } from "node:fs";
import { createServer } from "node:net";

const REDIS_SERVER =
  ["/usr/bin/redis-server", "/usr/local/bin/redis-server"].find((p) => existsSync(p)) ?? Bun.which("redis-server");

/** A port nothing listens on right now (the OS picks it). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function ping(host: string, port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({
      hostname: host,
      port,
      socket: { data() {}, error() {} },
    });
    socket.end();
    return true;
  } catch {
    return false;
  }
}

export interface TestRedis {
  url: string;
  port: number;
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: no persistence). */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** The running server's process id (benchmarks read its CPU time). */
  pid(): number | undefined;
}

/**
 * Starts redis-server on a free port, listening on `bind` (127.0.0.1 unless a test's own network needs
 * another address); fails with how to install it when it is missing. With a password, the server requires
 * it (`--requirepass`) and `url` carries it (`redis://:<password>@host:port`).
 */
export async function startRedis(options: { password?: string; bind?: string } = {}): Promise<TestRedis> {
  if (!REDIS_SERVER) {
    throw new Error("redis-server is not installed; these tests need a real Redis: apt-get install redis-server");
  }
  const bind = options.bind ?? "127.0.0.1";
  const port = await freePort();
  let proc: ReturnType<typeof Bun.spawn> | null = null;

  const start = async () => {
    proc = Bun.spawn(
      [
        REDIS_SERVER,
        "--port",
        String(port),
        "--bind",
        bind,
        // Without a password, protected mode refuses every client that is not on loopback.
        "--protected-mode",
        bind === "127.0.0.1" ? "yes" : "no",
        "--save",
        "",
        "--appendonly",
        "no",
        "--loglevel",
        "warning",
        ...(options.password ? ["--requirepass", options.password] : []),
      ],
      { stdout: "ignore", stderr: "pipe" },
    );
    // Should this test process die first (bun test runs no exit handlers), the server goes with it. The
    // watchdog ends with the server, and checks the title (redis-server <bind>:<port>) before it kills.
    const pid = proc.pid;
    Bun.spawn(
      [
        "sh",
        "-c",
        `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${pid} 2>/dev/null; do sleep 0.5; done; ` +
          `kill -0 ${process.pid} 2>/dev/null || { grep -q '${bind}:${port}' /proc/${pid}/cmdline && kill -9 ${pid}; }`,
      ],
      { stdio: ["ignore", "ignore", "ignore"] },
    ).unref();
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (await ping(bind, port)) return;
      if (proc.exitCode !== null) break;
      await Bun.sleep(20);
    }
    const err = proc.exitCode !== null ? await new Response(proc.stderr as ReadableStream).text() : "timeout";
    proc.kill("SIGKILL");
    throw new Error(`redis-server did not start on port ${port}: ${err}`);
  };
  const kill = async () => {
    if (!proc || proc.exitCode !== null) return;
    proc.kill("SIGKILL");
    await proc.exited;
  };

  await start();
  return {
    url: options.password
      ? `redis://:${encodeURIComponent(options.password)}@${bind}:${port}`
      : `redis://${bind}:${port}`,
    port,
    kill,
    restart: start,
    stop: kill,
    pid: () => (proc as ReturnType<typeof Bun.spawn> | null)?.pid,
  };
}

/** Two real server processes sharing one SQLite file and one Redis, both ready (GET /readyz 200). */
export async function startTwoInstances(env: Record<string, string> = {}, redisOptions: { password?: string } = {}) {
  const { spawnServer, tempDir, waitUntil } = await import("./harness.ts");
  const { databaseUrlForProcess } = await import("./backend.ts");
  const redis = await startRedis(redisOptions);
  const tmp = tempDir("payments-cluster-");
  // A SQLite file both share, or on PostgreSQL a database of the run's cluster both share.
  const database = env.DATABASE_URL ?? databaseUrlForProcess(`${tmp.dir}/payments.sqlite`, tmp.dir);
  const shared = { REDIS_URL: redis.url, ...env, DATABASE_URL: database };
  // One after the other: the first applies the migrations.
  const a = await spawnServer(shared);
  const b = await spawnServer(shared);
  const ready = async (url: string) => (await fetch(`${url}/readyz`).catch(() => null))?.status === 200;
  await waitUntil(async () => (await ready(a.url)) && (await ready(b.url)), 10_000, "both instances ready");
  return {
    redis,
    a,
    b,
    /** The DATABASE_URL both instances use (a SQLite path or a postgres:// URL); read it with queryDatabase. */
    databaseFile: shared.DATABASE_URL,
    async stop() {
      await Promise.all([a.stop("SIGKILL"), b.stop("SIGKILL")]);
      await redis.stop();
      tmp.cleanup();
    },
  };
}
