/**
 * The one switch between the two storage backends the suite runs on: `TEST_DATABASE=postgres` runs every
 * storage-backed test against a PostgreSQL cluster of the test run's own (test/postgres.ts), anything else
 * against SQLite files. scripts/test.ts runs the suite once each way.
 *
 * For PostgreSQL the cluster starts before the first test file (bunfig.toml preloads this module), with a
 * template database migrated by the app's own migrator; each test database is a copy of it, made with
 * `createdb --template`, so a test opens storage as quickly, and as synchronously, as a SQLite file.
 */
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { SQL } from "bun";
import { runMigrations } from "../src/db/postgres/client.ts";
import { postgresStorage } from "../src/db/postgres/storage.ts";
import { openSqliteStorage } from "../src/db/sqlite/storage.ts";
import type { Storage } from "../src/db/storage.ts";
import { startPostgres, type TestPostgres } from "./postgres.ts";

export type Backend = "sqlite" | "postgres";
export const BACKEND: Backend = process.env.TEST_DATABASE === "postgres" ? "postgres" : "sqlite";

const TEMPLATE = "payments_template";

interface PostgresState {
  pg: TestPostgres;
  created: number;
}

const state = globalThis as unknown as { __paymentsTestPostgres?: Promise<PostgresState> };

/** Starts the run's cluster once (the preload calls this), with the migrated template database. */
export function postgresForRun(): Promise<PostgresState> {
  state.__paymentsTestPostgres ??= (async () => {
    const pg = await startPostgres();
    const template = await pg.createDatabase(TEMPLATE);
    await runMigrations(template);
    // It lives as long as this test process (test/postgres.ts stops it when the process is gone).
    return { pg, created: 0 };
  })();
  return state.__paymentsTestPostgres;
}

let ready: PostgresState | undefined;
if (BACKEND === "postgres") ready = await postgresForRun();

/** A new database of the run's cluster, copied from the migrated template; returns its URL. */
export function newPostgresDatabase(): string {
  if (!ready) throw new Error("TEST_DATABASE=postgres: the cluster was not started (is test/backend.ts preloaded?)");
  const name = `t_${process.pid}_${++ready.created}`;
  const made = Bun.spawnSync(
    ["createdb", "-h", ready.pg.host, "-p", String(ready.pg.port), "-U", "postgres", "--template", TEMPLATE, name],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (made.exitCode !== 0) throw new Error(`createdb failed: ${made.stderr.toString()}`);
  return `${ready.pg.url}/${name}`;
}

/** Rows as plain objects: bigint columns (strings from the PostgreSQL driver) become numbers. */
type Rows = Array<Record<string, unknown>>;

export interface TestStorage {
  storage: Storage;
  /** DATABASE_URL for a server process that shares this database. */
  url: string;
  /**
   * Runs SQL that both dialects understand, with `?` placeholders, and returns its rows; integer values
   * come back as numbers on both (PostgreSQL's bigint arrives as a string).
   */
  query(text: string, ...params: unknown[]): Promise<Rows>;
  close(): Promise<void>;
}

const normalize = (rows: Rows): Rows =>
  rows.map((row) =>
    Object.fromEntries(
      Object.entries(row).map(([k, v]) => [k, typeof v === "string" && /^-?\d{1,15}$/.test(v) ? Number(v) : v]),
    ),
  );

/** Opens storage of the run's backend: a SQLite file in `dir`, or a fresh PostgreSQL database. */
export function openTestStorage(dir: string, sqliteFile?: string): TestStorage {
  return openTestStorageAt(
    BACKEND === "postgres" ? newPostgresDatabase() : (sqliteFile ?? join(dir, "payments.sqlite")),
  );
}

/** Opens storage on a database another TestStorage made (a second instance on the same database). */
export function openTestStorageAt(url: string): TestStorage {
  if (/^postgres(ql)?:/.test(url)) {
    const storage = postgresStorage(url, 10);
    return {
      storage,
      url,
      async query(text, ...params) {
        let n = 0;
        const rows = await storage.pool.unsafe(
          text.replace(/\?/g, () => `$${++n}`),
          params,
        );
        return normalize([...rows]);
      },
      close: () => storage.close(),
    };
  }
  const storage = openSqliteStorage(url);
  return {
    storage,
    url,
    async query(text, ...params) {
      return normalize(storage.db.$client.query(text).all(...(params as never[])) as Rows);
    },
    close: () => storage.close(),
  };
}

/**
 * DATABASE_URL for a server process: on PostgreSQL, the same SQLite path given twice maps to the same
 * database, so tests that share a file between processes share a database.
 */
const byPath = new Map<string, string>();
export function databaseUrlForProcess(sqlitePath: string | undefined, dir: string): string {
  if (BACKEND === "sqlite") return sqlitePath ?? join(dir, "data/payments.sqlite");
  const key = sqlitePath ?? `fresh:${dir}`;
  let url = byPath.get(key);
  if (!url) {
    url = newPostgresDatabase();
    byPath.set(key, url);
  }
  return url;
}

/** Runs SQL against a server process's database (its DATABASE_URL), as TestStorage.query does. */
export async function queryDatabase(databaseUrl: string, text: string, ...params: unknown[]): Promise<Rows> {
  if (/^postgres(ql)?:/.test(databaseUrl)) {
    const client = new SQL({ url: databaseUrl, max: 1 });
    try {
      let n = 0;
      return normalize([
        ...(await client.unsafe(
          text.replace(/\?/g, () => `$${++n}`),
          params,
        )),
      ]);
    } finally {
      await client.close();
    }
  }
  const db = new Database(databaseUrl, { readonly: true });
  try {
    return normalize(db.query(text).all(...(params as never[])) as Rows);
  } finally {
    db.close();
  }
}
