import { Database } from "bun:sqlite";

/** Opens a benchmark database the way the app does: WAL, synchronous=NORMAL, busy timeout. */
export function openCeilingDatabase(file: string): Database {
  const db = new Database(file, { strict: true });
  db.run("PRAGMA busy_timeout = 5000");
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA synchronous = NORMAL");
  return db;
}

/** Every ceiling announces its port the same way, so the runner finds it. */
export function announce(port: number | undefined): void {
  console.log(`ceiling listening on ${port}`);
}

/** Stops on SIGTERM like the real server does. */
export function stopOnSignal(stop: () => void): void {
  process.on("SIGTERM", () => {
    stop();
    process.exit(0);
  });
}

export const PORT = Number(process.env.PORT ?? 0);
export const DATABASE = process.env.DATABASE_URL ?? "";

/**
 * Exactly the SQL of a real create (idempotency lookup, payment INSERT … RETURNING, event INSERT,
 * idempotency-key INSERT) as one bun:sqlite transaction function, shared by yardsticks (2b) and (2c).
 */
export function prepareCreateSql(db: Database) {
  const findKey = db.prepare("SELECT request_hash, payment_id FROM idempotency_keys WHERE merchant = ? AND key = ?");
  const insertPayment = db.prepare(
    `INSERT INTO payments (bank_payment_id, amount_cents, status, br_code, created_at, expires_at)
     VALUES (?, ?, 'pending', ?, ?, ?) RETURNING *`,
  );
  const insertEvent = db.prepare(
    "INSERT INTO payment_events (payment_id, type, at) VALUES (?, 'created', ?) RETURNING id",
  );
  const insertKey = db.prepare(
    "INSERT INTO idempotency_keys (merchant, key, request_hash, payment_id, created_at) VALUES (?, ?, ?, ?, ?)",
  );
  const brCode = "0".repeat(150);
  const hash = "0".repeat(64);
  return db.transaction((key: string, cents: number) => {
    const now = Date.now();
    const kept = findKey.all("bench", key)[0];
    if (kept) return kept;
    const row = insertPayment.all(crypto.randomUUID(), cents, brCode, now, now + 1_800_000)[0] as { id: number };
    insertEvent.all(row.id, now);
    insertKey.run("bench", key, hash, row.id, now);
    return row;
  });
}
