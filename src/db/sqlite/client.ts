import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { type BunSQLiteDatabase, drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import * as schema from "./schema.ts";

export type Db = BunSQLiteDatabase<typeof schema> & { $client: Database };

export const MIGRATIONS_FOLDER = join(import.meta.dir, "../../../migrations/sqlite");

/** How long a connection waits for another writer's lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens the SQLite file (creating its folder), sets WAL, synchronous=NORMAL and a busy timeout, and
 * checks that they took: Bun's default synchronous=FULL makes every single-row commit several times slower.
 */
export function openDatabase(url: string): Db {
  if (url !== ":memory:") mkdirSync(dirname(url), { recursive: true });
  const sqlite = new Database(url, { create: true, strict: true });
  sqlite.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  if (url !== ":memory:") sqlite.run("PRAGMA journal_mode = WAL");
  sqlite.run("PRAGMA synchronous = NORMAL");
  sqlite.run("PRAGMA foreign_keys = ON");
  // Statement journals (a multi-row statement inside a transaction, such as the outbox's INSERT … SELECT) and
  // temporary b-trees stay in memory: as temp files they cost a create with a webhook endpoint ~35 µs more.
  sqlite.run("PRAGMA temp_store = MEMORY");

  const pragma = (name: string) => Object.values(sqlite.query(`PRAGMA ${name}`).get() as object)[0];
  const expected: Array<[string, unknown]> = [
    ["synchronous", 1],
    ["busy_timeout", BUSY_TIMEOUT_MS],
    ["temp_store", 2],
  ];
  if (url !== ":memory:") expected.push(["journal_mode", "wal"]);
  for (const [name, want] of expected) {
    const got = pragma(name);
    if (got !== want) throw new Error(`SQLite PRAGMA ${name} is ${String(got)}, expected ${String(want)}`);
  }
  return drizzle({ client: sqlite, schema }) as Db;
}

/**
 * Applies the committed drizzle-kit migrations. Drizzle reads the last applied migration before it
 * takes the write lock, so two instances starting on one file can both try to apply it; the loser's
 * transaction rolls back and a retry finds the work done.
 */
export function runMigrations(db: Db, folder = MIGRATIONS_FOLDER): void {
  for (let attempt = 1; ; attempt++) {
    try {
      migrate(db, { migrationsFolder: folder });
      return;
    } catch (err) {
      if (attempt >= 5) throw err;
      Bun.sleepSync(20 * attempt);
    }
  }
}
