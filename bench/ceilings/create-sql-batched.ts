/**
 * Yardstick (2c), not a target: the same SQL as (2b), but group-committed — creates that arrive in the
 * same event-loop turn share one BEGIN IMMEDIATE … COMMIT, each in its own SAVEPOINT, and every response
 * waits for that COMMIT (so an acknowledged payment is exactly as durable as with one transaction each).
 * It shows what the proposed batched write path would give the real service.
 */
import { announce, DATABASE, openCeilingDatabase, PORT, stopOnSignal } from "./common.ts";

const db = openCeilingDatabase(DATABASE);
const findKey = db.prepare("SELECT request_hash, payment_id FROM idempotency_keys WHERE merchant = ? AND key = ?");
const insertPayment = db.prepare(
  `INSERT INTO payments (bank_payment_id, amount_cents, status, br_code, created_at, expires_at)
   VALUES (?, ?, 'pending', ?, ?, ?) RETURNING *`,
);
const insertEvent = db.prepare("INSERT INTO payment_events (payment_id, type, at) VALUES (?, 'created', ?) RETURNING id");
const insertKey = db.prepare(
  "INSERT INTO idempotency_keys (merchant, key, request_hash, payment_id, created_at) VALUES (?, ?, ?, ?, ?)",
);
const brCode = "0".repeat(150);
const hash = "0".repeat(64);
const create = db.transaction((key: string, cents: number) => {
  const now = Date.now();
  const kept = findKey.all("bench", key)[0];
  if (kept) return kept;
  const row = insertPayment.all(crypto.randomUUID(), cents, brCode, now, now + 1_800_000)[0] as { id: number };
  insertEvent.all(row.id, now);
  insertKey.run("bench", key, hash, row.id, now);
  return row;
});

interface Job {
  key: string;
  cents: number;
  resolve: (row: unknown) => void;
  reject: (err: unknown) => void;
}
let queue: Job[] = [];
const begin = db.prepare("BEGIN IMMEDIATE");
const commit = db.prepare("COMMIT");
const rollback = db.prepare("ROLLBACK");

function flush() {
  const jobs = queue;
  queue = [];
  const results: Array<[Job, unknown, boolean]> = [];
  begin.run();
  try {
    // Inside a transaction bun:sqlite's transaction() becomes a SAVEPOINT: one failing job rolls back alone.
    for (const job of jobs) {
      try {
        results.push([job, create(job.key, job.cents), true]);
      } catch (err) {
        results.push([job, err, false]);
      }
    }
    commit.run();
  } catch (err) {
    rollback.run();
    for (const job of jobs) job.reject(err);
    return;
  }
  for (const [job, value, ok] of results) (ok ? job.resolve : job.reject)(value);
}

function createBatched(key: string, cents: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (queue.length === 0) setImmediate(flush);
    queue.push({ key, cents, resolve, reject });
  });
}

const server = Bun.serve({
  port: PORT,
  hostname: "127.0.0.1",
  async fetch(req) {
    const body = (await req.json()) as { value: number };
    const key = req.headers.get("idempotency-key") ?? crypto.randomUUID();
    return Response.json(await createBatched(key, Math.round(body.value * 100)));
  },
});
announce(server.port);
stopOnSignal(() => {
  server.stop(true);
  db.close();
});
