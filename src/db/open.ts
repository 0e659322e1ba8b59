import { isPostgresUrl } from "./postgres/client.ts";
import { openPostgresStorage } from "./postgres/storage.ts";
import { openSqliteStorage } from "./sqlite/storage.ts";
import type { Storage } from "./storage.ts";

/** Opens the database DATABASE_URL names (PostgreSQL for postgres:// URLs, else a SQLite file), migrated. */
export async function openStorage(databaseUrl: string, options: { poolSize: number }): Promise<Storage> {
  if (isPostgresUrl(databaseUrl)) return openPostgresStorage(databaseUrl, options.poolSize);
  return openSqliteStorage(databaseUrl);
}

/** DATABASE_URL as it may be printed: a password in a URL is masked. */
export function redactDatabaseUrl(url: string): string {
  return url.replace(/^([a-z][\w+.-]*:\/\/[^:/@]*:).*@/i, "$1***@");
}

const UNWRITABLE =
  /^(SQLITE_CANTOPEN|SQLITE_READONLY|SQLITE_IOERR|SQLITE_FULL|EACCES|EPERM|EROFS|ENOTDIR|EEXIST|ENOSPC)/;

/** One line for an error that stopped the database from opening: the driver's code and message. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const text = err.message.split("\n", 1)[0] ?? "";
  const line = typeof code === "string" && !text.includes(code) ? `${text} (${code})` : text;
  return typeof code === "string" && UNWRITABLE.test(code)
    ? `${line}; the database file and its folder must exist or be creatable, and be writable`
    : line;
}
