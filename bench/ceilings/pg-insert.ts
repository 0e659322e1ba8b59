/**
 * PostgreSQL ceiling (create): one prepared INSERT … RETURNING per request into the app's own `payments`
 * table, on Bun's SQL client with the app's pool size, returning the row. It reads the JSON body and checks
 * nothing: the least a create can cost on this database and driver.
 */
import { SQL } from "bun";
import { announce, PORT, stopOnSignal } from "./common.ts";

const sql = new SQL({ url: process.env.DATABASE_URL ?? "", max: Number(process.env.DATABASE_POOL_SIZE ?? 10) });
const brCode = "0".repeat(150);

const server = Bun.serve({
  port: PORT,
  hostname: "127.0.0.1",
  async fetch(req) {
    const body = (await req.json()) as { value: number };
    const now = Date.now();
    const [row] =
      await sql`INSERT INTO payments (bank_payment_id, amount_cents, status, br_code, created_at, expires_at)
      VALUES (${crypto.randomUUID()}, ${Math.round(body.value * 100)}, 'pending', ${brCode}, ${now}, ${now + 1_800_000})
      RETURNING *`;
    return Response.json(row);
  },
});
announce(server.port);
stopOnSignal(() => {
  server.stop(true);
  void sql.close();
});
