/**
 * A real PostgreSQL cluster for tests: Debian's `initdb` and `postgres` run as the `postgres` user on a
 * free port in a temporary folder, so a test can stop, kill and restart it without touching anything else.
 * Each test gets a fresh database of its own (`createDatabase`).
 */
import { appendFileSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { freePort } from "./redis.ts";

function findBinaries(): string | null {
  const base = "/usr/lib/postgresql";
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, "bin/postgres")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], "bin") : null;
}

const INSTALL = "PostgreSQL is not installed; these tests need a real server: apt-get install postgresql";

export interface TestPostgres {
  /** Base URL without a database name: postgres://postgres@host:port */
  url: string;
  host: string;
  port: number;
  /** A new, empty database; returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Fast shutdown (SIGINT): what an operator's stop does. */
  stop(): Promise<void>;
  /** SIGKILL the postmaster, as a crash would (the cluster recovers from its WAL on the next start). */
  kill(): Promise<void>;
  /** Starts it again on the same port and folder. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
  pid(): number | undefined;
}

/** Runs a command as the postgres user; setpriv execs it in place, so signals reach postgres itself. */
function asPostgres(args: string[]): string[] {
  return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", ...args];
}

/**
 * Initialises and starts a cluster listening on `host` (127.0.0.1 unless a test's network needs another
 * address) at a free port; `trust` (a CIDR such as 10.1.2.0/24) lets clients from that network in without
 * a password, as initdb's trust does for loopback. fsync is off: these tests stop and kill the server
 * process, never the machine. `durable` keeps PostgreSQL's defaults (fsync, full page writes), for benchmarks.
 */
export async function startPostgres(
  options: { host?: string; listen?: string; trust?: string; durable?: boolean } = {},
): Promise<TestPostgres> {
  const bin = findBinaries();
  if (!bin) throw new Error(INSTALL);
  const host = options.host ?? "127.0.0.1";
  const dir = mkdtempSync(join(tmpdir(), "payments-pg-"));
  const data = join(dir, "data");
  chownSync(dir, uidOf("postgres"), gidOf("postgres"));
  const init = Bun.spawnSync(
    asPostgres([join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
    { stdout: "pipe", stderr: "pipe" },
  );
  if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.stderr.toString()}`);
  if (options.trust) appendFileSync(join(data, "pg_hba.conf"), `host all all ${options.trust} trust\n`);
  const port = await freePort();
  let proc: ReturnType<typeof Bun.spawn> | null = null;
  let stderr = "";

  const start = async () => {
    proc = Bun.spawn(
      asPostgres([
        join(bin, "postgres"),
        "-D",
        data,
        "-p",
        String(port),
        "-k",
        dir,
        "-c",
        `listen_addresses=${options.listen ?? host}`,
        ...(options.durable ? [] : ["-c", "fsync=off", "-c", "full_page_writes=off"]),
        "-c",
        "max_connections=300",
        "-c",
        "log_min_messages=fatal",
      ]),
      { stdout: "ignore", stderr: "pipe" },
    );
    void (async () => {
      for await (const chunk of proc!.stderr as ReadableStream<Uint8Array>) stderr += new TextDecoder().decode(chunk);
    })();
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (await answers()) return;
      if (proc.exitCode !== null) break;
      await Bun.sleep(50);
    }
    proc.kill("SIGKILL");
    throw new Error(`postgres did not start on port ${port}: ${stderr.slice(-2000)}`);
  };
  const answers = async () => {
    const sql = new SQL({ url: `postgres://postgres@${host}:${port}/postgres`, max: 1, connectionTimeout: 1 });
    try {
      await sql`SELECT 1`;
      return true;
    } catch {
      return false;
    } finally {
      await sql.close().catch(() => {});
    }
  };
  const signal = async (sig: NodeJS.Signals) => {
    const p = proc as ReturnType<typeof Bun.spawn> | null;
    if (!p || p.exitCode !== null) return;
    p.kill(sig);
    await p.exited;
  };

  await start();
  // Whatever happens to this test process (a crash, SIGKILL, bun test not running exit handlers), the
  // cluster goes with it: a watchdog shell stops the postmaster running at the time and removes the folder.
  const watchdog = Bun.spawn(
    [
      "sh",
      "-c",
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 0.5; done; ` +
        `pid=$(head -1 ${data}/postmaster.pid 2>/dev/null) && kill -INT "$pid"; sleep 3; rm -rf ${dir}`,
    ],
    { stdio: ["ignore", "ignore", "ignore"] },
  );
  watchdog.unref();
  let counter = 0;
  return {
    url: `postgres://postgres@${host}:${port}`,
    host,
    port,
    async createDatabase(name = `t${process.pid}_${++counter}_${Date.now().toString(36)}`) {
      const admin = new SQL({ url: `postgres://postgres@${host}:${port}/postgres`, max: 1 });
      try {
        await admin.unsafe(`CREATE DATABASE "${name}"`);
      } finally {
        await admin.close();
      }
      return `postgres://postgres@${host}:${port}/${name}`;
    },
    stop: () => signal("SIGINT"),
    kill: async () => {
      await signal("SIGKILL");
      // A killed postmaster leaves its backends; they exit once they notice, before a restart can bind.
      Bun.spawnSync(["pkill", "-KILL", "-f", `postgres -D ${data}`]);
      rmSync(join(data, "postmaster.pid"), { force: true });
    },
    start,
    async destroy() {
      await signal("SIGINT");
      rmSync(dir, { recursive: true, force: true });
    },
    pid: () => (proc as ReturnType<typeof Bun.spawn> | null)?.pid,
  };
}

function uidOf(user: string): number {
  return Number(Bun.spawnSync(["id", "-u", user]).stdout.toString().trim());
}
function gidOf(user: string): number {
  return Number(Bun.spawnSync(["id", "-g", user]).stdout.toString().trim());
}
