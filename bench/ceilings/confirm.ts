/**
 * Ceiling (4): one prepared conditional UPDATE (pending → paid) per request plus a server.publish of the
 * row to its topic. No signature check, no event log: the least a confirmation can cost.
 */
import { announce, DATABASE, openCeilingDatabase, PORT, stopOnSignal } from "./common.ts";

const db = openCeilingDatabase(DATABASE);
const markPaid = db.prepare(
  `UPDATE payments SET status = 'paid', paid_at = ?1
   WHERE bank_payment_id = ?2 AND amount_cents = ?3 AND status = 'pending' AND expires_at > ?1 RETURNING *`,
);

const server = Bun.serve({
  port: PORT,
  hostname: "127.0.0.1",
  async fetch(req, srv) {
    const body = (await req.json()) as { bank_payment_id: string; value: number };
    const row = markPaid.all(Date.now(), body.bank_payment_id, Math.round(body.value * 100))[0] as
      | { bank_payment_id: string }
      | undefined;
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
