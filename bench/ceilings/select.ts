/** Ceiling (3): one prepared SELECT by primary key per request, returning the row (404 when absent). */
import { announce, DATABASE, openCeilingDatabase, PORT, stopOnSignal } from "./common.ts";

const db = openCeilingDatabase(DATABASE);
const byId = db.prepare("SELECT * FROM payments WHERE id = ?");

const server = Bun.serve({
  port: PORT,
  hostname: "127.0.0.1",
  fetch(req) {
    const url = new URL(req.url);
    const id = Number(url.pathname.slice(url.pathname.lastIndexOf("/") + 1));
    const row = byId.all(id)[0];
    return row ? Response.json(row) : Response.json({ message: "Payment not found" }, { status: 404 });
  },
});
announce(server.port);
stopOnSignal(() => {
  server.stop(true);
  db.close();
});
