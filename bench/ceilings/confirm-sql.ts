/**
 * Yardstick (4b), not a target: exactly the SQL a real confirmation runs — read the payment by bank id,
 * look up the webhook id, conditional UPDATE … RETURNING, event INSERT, delivery INSERT, in one
 * BEGIN IMMEDIATE transaction — on raw bun:sqlite, with no signature check, tRPC or logging.
 */
import { announce, DATABASE, openCeilingDatabase, PORT, stopOnSignal } from "./common.ts";

const db = openCeilingDatabase(DATABASE);
const byBankId = db.prepare("SELECT * FROM payments WHERE bank_payment_id = ?");
const findDelivery = db.prepare("SELECT payment_id FROM webhook_deliveries WHERE webhook_id = ?");
const markPaid = db.prepare(
  `UPDATE payments SET status = 'paid', paid_at = ?1 WHERE id = ?2 AND status = 'pending' AND expires_at > ?1 RETURNING *`,
);
const insertEvent = db.prepare("INSERT INTO payment_events (payment_id, type, at) VALUES (?, 'paid', ?) RETURNING id");
const insertDelivery = db.prepare(
  "INSERT INTO webhook_deliveries (webhook_id, payment_id, received_at) VALUES (?, ?, ?)",
);
let deliveries = 0;
const confirm = db.transaction((bankPaymentId: string, cents: number) => {
  const now = Date.now();
  const row = byBankId.all(bankPaymentId)[0] as { id: number; amount_cents: number; status: string } | undefined;
  if (!row || row.amount_cents !== cents) return null;
  const webhookId = `msg_yardstick_${process.pid}_${++deliveries}`;
  if (findDelivery.all(webhookId)[0] || row.status === "paid") return row;
  const paid = markPaid.all(now, row.id)[0] as { id: number; bank_payment_id: string } | undefined;
  if (!paid) return null;
  insertEvent.all(paid.id, now);
  insertDelivery.run(webhookId, paid.id, now);
  return paid;
});

const server = Bun.serve({
  port: PORT,
  hostname: "127.0.0.1",
  async fetch(req, srv) {
    const body = (await req.json()) as { bank_payment_id: string; value: number };
    const row = confirm.immediate(body.bank_payment_id, Math.round(body.value * 100)) as {
      bank_payment_id: string;
    } | null;
    if (row) srv.publish(`payment:${row.bank_payment_id}`, JSON.stringify({ type: "payment", payment: row }));
    return Response.json({ message: "The payment has been confirmed" });
  },
  websocket: { message() {} },
});
announce(server.port);
stopOnSignal(() => {
  server.stop(true);
  db.close();
});
