import type { SQL } from "bun";
import type { Storage } from "../storage.ts";
import { openPool, runMigrations } from "./client.ts";
import { createPostgresPaymentRepository } from "./payment-repository.ts";

export interface PostgresStorage extends Storage {
  kind: "postgres";
  /** The pool (tests read the database through it). */
  pool: SQL;
}

/** How long /readyz waits for `SELECT 1` before it reports the database unavailable. */
const READY_TIMEOUT_MS = 2000;

/** Applies the migrations (once across instances) and serves the repository on a pool of `poolSize`. */
export async function openPostgresStorage(url: string, poolSize: number): Promise<PostgresStorage> {
  await runMigrations(url);
  return postgresStorage(url, poolSize);
}

/** Serves the repository on a database whose migrations are applied already. */
export function postgresStorage(url: string, poolSize: number): PostgresStorage {
  const pool = openPool(url, poolSize);
  return {
    kind: "postgres",
    pool,
    repository: createPostgresPaymentRepository(pool),
    async ready() {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const answered = pool`SELECT 1 AS ok`.then(
          () => true,
          () => false,
        );
        const late = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), READY_TIMEOUT_MS);
        });
        return await Promise.race([answered, late]);
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await pool.close({ timeout: 2 });
    },
  };
}
