/**
 * PostgreSQL ceiling (confirmation): one prepared conditional UPDATE (pending → paid) … RETURNING per request
 * plus a server.publish of the row, on Bun's SQL client with the app's pool size. No signature, no event log.
 */
import { SQL } from "bun";
import { announce, PORT, stopOnSignal } from "./common.ts";

const sql = new SQL({ url: process.env.DATABASE_URL ?? "", max: Number(process.env.DATABASE_POOL_SIZE ?? 10) });

const server = Bun.serve({
  port: PORT,
  hostname: "127.0.0.1",
  async fetch(req, srv) {
    const body = (await req.json()) as { bank_payment_id: string; value: number };
    const now = Date.now();
    const [row] = await sql`UPDATE payments SET status = 'paid', paid_at = ${now}
      WHERE bank_payment_id = ${body.bank_payment_id} AND amount_cents = ${Math.round(body.value * 100)}
        AND status = 'pending' AND expires_at > ${now} RETURNING *`;
    if (row) srv.publish(`payment:${row.bank_payment_id}`, JSON.stringify({ type: "payment", payment: row }));
    return Response.json({ message: "The payment has been confirmed" });
  },
  websocket: { message() {} },
});
announce(server.port);
stopOnSignal(() => {
  server.stop(true);
  void sql.close();
});
