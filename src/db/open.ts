import { openSqliteStorage } from "./sqlite/storage.ts";
import type { Storage } from "./storage.ts";

/** Opens the database DATABASE_URL names, with its migrations applied. */
export async function openStorage(databaseUrl: string): Promise<Storage> {
  return openSqliteStorage(databaseUrl);
}
