/**
 * Yardstick (2b), not a target: exactly the SQL a real create runs — idempotency lookup, payment INSERT …
 * RETURNING, event INSERT, idempotency-key INSERT, in one BEGIN IMMEDIATE transaction — on raw bun:sqlite
 * with nothing else (no auth, validation, BR Code, tRPC or logging). It shows how much of ceiling (2)
 * the database work of a create leaves for everything else.
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

const server = Bun.serve({
  port: PORT,
  hostname: "127.0.0.1",
  async fetch(req) {
    const body = (await req.json()) as { value: number };
    const key = req.headers.get("idempotency-key") ?? crypto.randomUUID();
    return Response.json(create.immediate(key, Math.round(body.value * 100)));
  },
});
announce(server.port);
stopOnSignal(() => {
  server.stop(true);
  db.close();
});
