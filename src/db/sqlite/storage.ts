import type { Storage } from "../storage.ts";
import { type Db, openDatabase, runMigrations } from "./client.ts";
import { isUnavailable } from "./errors.ts";
import { createSqlitePaymentRepository } from "./payment-repository.ts";

export interface SqliteStorage extends Storage {
  kind: "sqlite";
  /** The Drizzle handle of the connection (tests and benchmarks read the file through it). */
  db: Db;
}

/**
 * Opens (and creates) the SQLite file, applies the committed migrations, checks that it can write, and
 * serves the repository on it. Readiness learns of write failures: after a disk-full, read-only or I/O
 * error, `ready()` is false until a probe write succeeds again (an ordinary write that changes nothing,
 * such as a sweep with nothing due, commits even on a full disk, so it proves nothing).
 */
export function openSqliteStorage(url: string): SqliteStorage {
  const db = openDatabase(url);
  runMigrations(db);
  const ping = db.$client.query("SELECT 1 AS ok");
  const version = db.$client.query("PRAGMA user_version");
  /**
   * A write that must reach the file: it bumps the header's user_version (nothing else reads it), so SQLite
   * writes page 1 and commits. Runs between the write batcher's flushes, which never leave a transaction open.
   */
  const probeWrite = () => {
    const { user_version } = version.get() as { user_version: number };
    db.$client.run(`PRAGMA user_version = ${(user_version + 1) % 1_000_000}`);
  };
  probeWrite(); // a read-only file or folder stops start-up here, not at the first payment
  let failing = false;
  const repository = createSqlitePaymentRepository(db, {
    onUnavailable: () => {
      failing = true;
    },
  });
  return {
    kind: "sqlite",
    db,
    repository,
    async ready() {
      try {
        if (ping.all().length !== 1) return false;
        if (failing) {
          probeWrite();
          failing = false;
        }
        return true;
      } catch (err) {
        if (isUnavailable(err)) failing = true;
        return false;
      }
    },
    async close() {
      db.$client.close();
    },
  };
}
