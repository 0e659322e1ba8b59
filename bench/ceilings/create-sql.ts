/**
 * Yardstick (2b), not a target: exactly the SQL a real create runs — idempotency lookup, payment INSERT …
 * RETURNING, event INSERT, idempotency-key INSERT, in one BEGIN IMMEDIATE transaction — on raw bun:sqlite
 * with nothing else (no auth, validation, BR Code, tRPC or logging). It shows how much of ceiling (2)
 * the database work of a create leaves for everything else.
 */
import { announce, DATABASE, openCeilingDatabase, PORT, prepareCreateSql, stopOnSignal } from "./common.ts";

const db = openCeilingDatabase(DATABASE);
const create = prepareCreateSql(db);

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
