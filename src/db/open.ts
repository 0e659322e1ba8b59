import { isPostgresUrl } from "./postgres/client.ts";
import { openPostgresStorage } from "./postgres/storage.ts";
import { openSqliteStorage } from "./sqlite/storage.ts";
import type { Storage } from "./storage.ts";

/** Opens the database DATABASE_URL names (PostgreSQL for postgres:// URLs, else a SQLite file), migrated. */
export async function openStorage(databaseUrl: string, options: { poolSize: number }): Promise<Storage> {
  if (isPostgresUrl(databaseUrl)) return openPostgresStorage(databaseUrl, options.poolSize);
  return openSqliteStorage(databaseUrl);
}
