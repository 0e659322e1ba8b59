import { SQLiteError } from "bun:sqlite";
import { StorageUnavailable } from "../../payments/errors.ts";

/**
 * SQLite's primary result codes that mean "the database cannot be used now", not "this request is wrong":
 * SQLITE_READONLY (8), SQLITE_IOERR (10), SQLITE_FULL (13), SQLITE_CANTOPEN (14). Extended codes
 * (SQLITE_IOERR_WRITE = 778, SQLITE_READONLY_DBMOVED, …) carry the primary one in their low byte.
 */
const UNAVAILABLE = new Set([8, 10, 13, 14]);

/** True when a bun:sqlite error means the storage is unavailable (disk full, read-only, I/O error). */
export function isUnavailable(err: unknown): err is SQLiteError {
  return err instanceof SQLiteError && UNAVAILABLE.has(err.errno & 0xff);
}

/** The domain's StorageUnavailable for such an error (its cause keeps SQLite's); anything else unchanged. */
export function toStorageError(err: unknown): unknown {
  return isUnavailable(err) ? StorageUnavailable(err) : err;
}
