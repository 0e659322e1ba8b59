/**
 * The processes of a run: the ceiling programs (bench/ceilings/) and the real app (this checkout's, and the
 * `--baseline` checkout's), each started pinned to SERVER_CPU with its own copy of the seeded database, and
 * stopped (with the run's temporary folders removed) when the run ends or is interrupted.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ROOT, type Served, startServer } from "./lib/proc.ts";
import { API_KEY, BASELINE, LOG_LEVEL_MAIN, WEBHOOK_SECRET } from "./settings.ts";

const started: Served[] = [];
const dirs: string[] = [];

export async function stopAll() {
  await Promise.all(started.splice(0).map((s) => s.stop().catch(() => {})));
}

export async function cleanup() {
  await stopAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    void cleanup().then(() => process.exit(130));
  });
}

/** A temporary folder under `base`, removed by cleanup(). */
export function workDir(base: string, prefix: string): string {
  const d = mkdtempSync(join(base, prefix));
  dirs.push(d);
  return d;
}

export async function ceiling(name: string, file: string, dir: string, database?: string): Promise<Served> {
  const s = await startServer({
    name,
    script: join(ROOT, "bench/ceilings", file),
    env: database ? { DATABASE_URL: database } : {},
    cwd: dir,
    logFile: join(dir, `${name}.log`),
  });
  started.push(s);
  return s;
}

export async function realServer(
  name: string,
  dir: string,
  database: string,
  logLevel: string,
  root = ROOT,
): Promise<Served> {
  const s = await startServer({
    name,
    script: join(root, "src/index.ts"),
    env: {
      NODE_ENV: "production",
      DATABASE_URL: database,
      API_KEYS: API_KEY,
      WEBHOOK_SECRET,
      // Production needs both; the same lengths as the defaults (demo key, localhost with a 5-digit port), so
      // the links and BR Codes measured are as long as before.
      PUBLIC_URL: "http://localhost:40000",
      PIX_KEY: "7d4a5f1c-2b3e-4c8d-9e0f-1a2b3c4d5e6f",
      LOG_LEVEL: logLevel,
    },
    cwd: dir,
    logFile: join(dir, `${name}.log`),
  });
  started.push(s);
  return s;
}

/** The database file of every server of one medium (empty where that server does not run). */
export interface MediumDatabases {
  insert: string;
  createSql: string;
  createSqlBatched: string;
  select: string;
  selectTrpc: string;
  confirm: string;
  confirmSql: string;
  real: string;
  warn: string;
  base: string;
}

/** The servers of one medium; the optional ones run on disk only (`full`), the baseline only with --baseline. */
export interface MediumServers {
  c1?: Served;
  c2: Served;
  c2b: Served;
  c2c: Served;
  c3: Served;
  c3b: Served;
  c4: Served;
  c4b: Served;
  real: Served;
  warn?: Served;
  base?: Served;
}

/**
 * Copies the seeded file once per server into `dir` and starts every server of a medium. On disk (`full`)
 * that includes ceiling (1), the LOG_LEVEL=warn server and the baseline checkout's server.
 */
export async function startMedium(
  dir: string,
  seedFile: string,
  full: boolean,
): Promise<{ db: MediumDatabases; servers: MediumServers }> {
  const copy = (name: string) => {
    const f = join(dir, name);
    copyFileSync(seedFile, f);
    return f;
  };
  const db: MediumDatabases = {
    insert: copy("ceiling-insert.sqlite"),
    createSql: copy("ceiling-create-sql.sqlite"),
    createSqlBatched: copy("ceiling-create-sql-batched.sqlite"),
    select: copy("ceiling-select.sqlite"),
    selectTrpc: copy("ceiling-select-trpc.sqlite"),
    confirm: copy("ceiling-confirm.sqlite"),
    confirmSql: copy("ceiling-confirm-sql.sqlite"),
    real: copy("real.sqlite"),
    warn: full ? copy("real-warn.sqlite") : "",
    base: full && BASELINE ? copy("baseline.sqlite") : "",
  };
  const servers: MediumServers = {
    c1: full ? await ceiling("ceiling-json", "json.ts", dir) : undefined,
    c2: await ceiling("ceiling-insert", "insert.ts", dir, db.insert),
    c2b: await ceiling("ceiling-create-sql", "create-sql.ts", dir, db.createSql),
    c2c: await ceiling("ceiling-create-sql-batched", "create-sql-batched.ts", dir, db.createSqlBatched),
    c3: await ceiling("ceiling-select", "select.ts", dir, db.select),
    c3b: await ceiling("ceiling-select-trpc", "select-trpc.ts", dir, db.selectTrpc),
    c4: await ceiling("ceiling-confirm", "confirm.ts", dir, db.confirm),
    c4b: await ceiling("ceiling-confirm-sql", "confirm-sql.ts", dir, db.confirmSql),
    real: await realServer("real-info", dir, db.real, LOG_LEVEL_MAIN),
    warn: full ? await realServer("real-warn", dir, db.warn, "warn") : undefined,
    base: full && BASELINE ? await realServer("baseline-info", dir, db.base, LOG_LEVEL_MAIN, BASELINE) : undefined,
  };
  return { db, servers };
}
