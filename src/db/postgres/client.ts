import { join } from "node:path";
import { SQL } from "bun";
import { drizzle } from "drizzle-orm/bun-sql";
import { migrate } from "drizzle-orm/bun-sql/migrator";

export const MIGRATIONS_FOLDER = join(import.meta.dir, "../../../migrations/postgres");

/** Seconds a new connection may take before it fails (so an outage answers 503 quickly, not late). */
const CONNECT_TIMEOUT_SECONDS = 3;

/** Any key of our own for pg_advisory_lock: "pixp" in ASCII. */
const MIGRATION_LOCK = 0x70697870;

/** True for a postgres:// or postgresql:// URL (anything else is a SQLite path). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(url);
}

/**
 * The connection pool: Bun's built-in PostgreSQL client (no extra dependency; measured against
 * postgres.js in bench/pg-drivers.ts). Connections are opened on demand and reopened after an outage.
 */
export function openPool(url: string, size: number): SQL {
  return new SQL({ url, max: size, connectionTimeout: CONNECT_TIMEOUT_SECONDS, idleTimeout: 60 });
}

/**
 * Applies the committed drizzle-kit migrations once, however many instances start at once: each takes a
 * session advisory lock on a connection of its own first, so the others wait and then find the work done.
 */
export async function runMigrations(url: string, folder = MIGRATIONS_FOLDER): Promise<void> {
  const client = new SQL({ url, max: 1, connectionTimeout: CONNECT_TIMEOUT_SECONDS });
  try {
    await client`SELECT pg_advisory_lock(${MIGRATION_LOCK})`;
    try {
      await migrate(drizzle({ client }), { migrationsFolder: folder });
    } finally {
      await client`SELECT pg_advisory_unlock(${MIGRATION_LOCK})`;
    }
  } finally {
    await client.close();
  }
}
