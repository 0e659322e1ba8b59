/**
 * Ceiling (2): one prepared bun:sqlite INSERT … RETURNING per request (WAL, synchronous=NORMAL) into the
 * app's own `payments` table (same indexes), returning the row. It reads the JSON body but checks nothing.
 */
import { announce, DATABASE, openCeilingDatabase, PORT, stopOnSignal } from "./common.ts";

const db = openCeilingDatabase(DATABASE);
const insert = db.prepare(
  `INSERT INTO payments (bank_payment_id, amount_cents, status, br_code, created_at, expires_at)
   VALUES (?, ?, 'pending', ?, ?, ?) RETURNING *`,
);
// A BR Code of realistic length, so rows weigh what the app's rows weigh.
const brCode = "0".repeat(150);

const server = Bun.serve({
  port: PORT,
  hostname: "127.0.0.1",
  async fetch(req) {
    const body = (await req.json()) as { value: number };
    const now = Date.now();
    const row = insert.all(crypto.randomUUID(), Math.round(body.value * 100), brCode, now, now + 1_800_000)[0];
    return Response.json(row);
  },
});
announce(server.port);
stopOnSignal(() => {
  server.stop(true);
  db.close();
});
