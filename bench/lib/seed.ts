import { Database } from "bun:sqlite";
import { createHash, createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { openDatabase, runMigrations } from "../../src/db/sqlite/client.ts";
import { buildBrCode, txidFromUuid } from "../../src/pix/brcode.ts";

const PIX = { pixKey: "123e4567-e12b-12d1-a456-426655440000", merchantName: "Loja Demo", merchantCity: "Sao Paulo" };

function open(file: string): Database {
  const db = new Database(file, { strict: true });
  db.run("PRAGMA busy_timeout = 10000");
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA synchronous = NORMAL");
  return db;
}

/** The merchant scope the app derives from an API key (first 16 hex digits of its sha256). */
export function merchantOf(apiKey: string): string {
  return createHash("sha256").update(apiKey).digest("hex").slice(0, 16);
}

/**
 * Creates the schema with the app's own migrations, then bulk-inserts `count` historical payments in one
 * transaction straight through bun:sqlite: 80% paid, 20% expired, each with its events and an idempotency
 * key recent enough that the pruner keeps it (so all three tables grow together, as in production).
 */
export function seedDatabase(file: string, count: number, merchant: string): void {
  const orm = openDatabase(file);
  runMigrations(orm);
  orm.$client.close();
  const db = open(file);
  const now = Date.now();
  const insertPayment = db.prepare(
    `INSERT INTO payments (id, bank_payment_id, amount_cents, status, br_code, created_at, expires_at, paid_at, expired_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertEvent = db.prepare("INSERT INTO payment_events (payment_id, type, at) VALUES (?, ?, ?)");
  const insertKey = db.prepare(
    "INSERT INTO idempotency_keys (merchant, key, request_hash, payment_id, created_at) VALUES (?, ?, ?, ?, ?)",
  );
  const hash = createHash("sha256").update("seed").digest("hex");
  const base = now - count * 1000;
  db.transaction(() => {
    for (let id = 1; id <= count; id++) {
      const uuid = crypto.randomUUID();
      const cents = 100 + ((id * 7919) % 1_000_000);
      const created = base + id * 1000 - 3_600_000;
      const expires = created + 1_800_000;
      const paid = id % 5 !== 0;
      const brCode = buildBrCode({ ...PIX, amountCents: cents, txid: txidFromUuid(uuid), pointOfInitiation: "12" });
      insertPayment.run(
        id,
        uuid,
        cents,
        paid ? "paid" : "expired",
        brCode,
        created,
        expires,
        paid ? created + 60_000 : null,
        paid ? null : expires,
      );
      insertEvent.run(id, "created", created);
      insertEvent.run(id, paid ? "paid" : "expired", paid ? created + 60_000 : expires);
      insertKey.run(merchant, `seed-${id}`, hash, id, now);
    }
  })();
  db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  db.run("ANALYZE");
  db.close();
}

export interface PendingPayment {
  bankPaymentId: string;
  cents: number;
}

/**
 * Inserts `count` pending payments (valid for 2 hours) into a live database, as the API would have
 * created them, so every confirmation of the next run is a real pending → paid transition.
 */
export function addPendingPayments(file: string, count: number): PendingPayment[] {
  const db = open(file);
  const now = Date.now();
  const insertPayment = db.prepare(
    `INSERT INTO payments (bank_payment_id, amount_cents, status, br_code, created_at, expires_at)
     VALUES (?, ?, 'pending', ?, ?, ?) RETURNING id`,
  );
  const insertEvent = db.prepare("INSERT INTO payment_events (payment_id, type, at) VALUES (?, 'created', ?)");
  const out: PendingPayment[] = [];
  // Small transactions, so the runner's own writes never make the -wal file bigger than the server's do.
  const chunk = db.transaction((n: number) => {
    for (let i = 0; i < n; i++) {
      const uuid = crypto.randomUUID();
      const cents = 100 + ((out.length * 7919) % 1_000_000);
      const brCode = buildBrCode({ ...PIX, amountCents: cents, txid: txidFromUuid(uuid), pointOfInitiation: "12" });
      const { id } = insertPayment.all(uuid, cents, brCode, now, now + 7_200_000)[0] as { id: number };
      insertEvent.run(id, now);
      out.push({ bankPaymentId: uuid, cents });
    }
  });
  for (let done = 0; done < count; done += 500) chunk.immediate(Math.min(500, count - done));
  db.close();
  return out;
}

/** How many of these payments are paid now (the confirmations that were real transitions). */
export function countPaid(file: string, batch: PendingPayment[]): number {
  const db = open(file);
  const q = db.prepare("SELECT status FROM payments WHERE bank_payment_id = ?");
  let paid = 0;
  for (const p of batch) if ((q.get(p.bankPaymentId) as { status: string } | null)?.status === "paid") paid++;
  db.close();
  return paid;
}

/** Checkpoints and truncates the -wal file, so a following measurement starts from zero. */
export function truncateWal(file: string): void {
  const db = open(file);
  db.run("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
}

export function maxId(file: string): number {
  const db = open(file);
  const { m } = db.query("SELECT max(id) AS m FROM payments").get() as { m: number };
  db.close();
  return m;
}

/** Standard Webhooks signature, computed as standardwebhooks does (checked against it at start-up). */
export function signature(secret: string, id: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  return `v1,${createHmac("sha256", key).update(`${id}.${timestamp}.${body}`).digest("base64")}`;
}

const raw = (method: string, path: string, headers: Record<string, string>, body = "") =>
  `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
  Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("") +
  (body || method === "POST" ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : "") +
  `\r\n${body}`;

/** Writes one request per pending payment: signed (real server) or plain (ceiling), each a new delivery. */
export function writeConfirmRequests(file: string, batch: PendingPayment[], secret: string | null): void {
  const timestamp = Math.floor(Date.now() / 1000);
  const records = batch.map((p, i) => {
    const body = JSON.stringify({ bank_payment_id: p.bankPaymentId, value: p.cents / 100 });
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (secret) {
      const id = `msg_bench_${timestamp}_${i}_${p.bankPaymentId.slice(0, 8)}`;
      headers["webhook-id"] = id;
      headers["webhook-timestamp"] = String(timestamp);
      headers["webhook-signature"] = signature(secret, id, timestamp, body);
    }
    return raw("POST", "/payments/pix/confirmation", headers, body);
  });
  writeFileSync(file, records.join("\0"));
}

/** Writes `count` GET requests for random ids in [1, max] (with the merchant's key when given). */
export function writeGetRequests(
  file: string,
  count: number,
  max: number,
  pathOf: (id: number) => string,
  auth?: string,
): void {
  const headers: Record<string, string> = auth ? { Authorization: auth } : {};
  const records: string[] = [];
  for (let i = 0; i < count; i++) records.push(raw("GET", pathOf(1 + Math.floor(Math.random() * max)), headers));
  writeFileSync(file, records.join("\0"));
}

/**
 * Writes `count` GET requests for the QR PNG of the first `payments` seeded payments, in random order: a
 * few payer pages loaded again and again, as a hot checkout (or someone with a payer link) makes them.
 */
export function writeQrRequests(file: string, database: string, payments: number, count: number): void {
  const db = open(database);
  const ids = (
    db.query("SELECT bank_payment_id AS id FROM payments ORDER BY id LIMIT ?").all(payments) as Array<{
      id: string;
    }>
  ).map((r) => r.id);
  db.close();
  const records: string[] = [];
  for (let i = 0; i < count; i++) {
    records.push(raw("GET", `/pay/${ids[Math.floor(Math.random() * ids.length)]}/qr.png`, {}));
  }
  writeFileSync(file, records.join("\0"));
}
