import type { Storage } from "../storage.ts";
import { type Db, openDatabase, runMigrations } from "./client.ts";
import { createSqlitePaymentRepository } from "./payment-repository.ts";

export interface SqliteStorage extends Storage {
  kind: "sqlite";
  /** The Drizzle handle of the connection (tests and benchmarks read the file through it). */
  db: Db;
}

/** Opens (and creates) the SQLite file, applies the committed migrations, and serves the repository on it. */
export function openSqliteStorage(url: string): SqliteStorage {
  const db = openDatabase(url);
  runMigrations(db);
  const ping = db.$client.query("SELECT 1 AS ok");
  return {
    kind: "sqlite",
    db,
    repository: createSqlitePaymentRepository(db),
    async ready() {
      try {
        return ping.all().length === 1;
      } catch {
        return false;
      }
    },
    async close() {
      db.$client.close();
    },
  };
}
