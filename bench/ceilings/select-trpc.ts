/**
 * Yardstick (3b): ceiling (3) with its SELECT moved inside a tRPC procedure, called the way our REST
 * adapter calls every procedure (createCaller), with one middleware checking a bearer key and a zod
 * input schema. Nothing else of the app (no logging, metrics, presentation or output schema): it
 * measures what tRPC's procedure machinery alone leaves of ceiling (3).
 */
import { initTRPC, TRPCError } from "@trpc/server";
import { z } from "zod";
import { announce, DATABASE, openCeilingDatabase, PORT, stopOnSignal } from "./common.ts";

const db = openCeilingDatabase(DATABASE);
const byId = db.prepare("SELECT * FROM payments WHERE id = ?");

const t = initTRPC.context<{ headers: Headers }>().create();
const authed = t.procedure.use(({ ctx, next }) => {
  if (!ctx.headers.get("authorization")?.startsWith("Bearer ")) throw new TRPCError({ code: "UNAUTHORIZED" });
  return next();
});
const router = t.router({
  get: authed
    .input(z.strictObject({ id: z.number().int().positive() }))
    .query(({ input }) => byId.all(input.id)[0] ?? null),
});
const createCaller = t.createCallerFactory(router);

const server = Bun.serve({
  port: PORT,
  hostname: "127.0.0.1",
  async fetch(req) {
    const url = new URL(req.url);
    const id = Number(url.pathname.slice(url.pathname.lastIndexOf("/") + 1));
    const row = await createCaller({ headers: req.headers }).get({ id });
    return row ? Response.json(row) : Response.json({ message: "Payment not found" }, { status: 404 });
  },
});
announce(server.port);
stopOnSignal(() => {
  server.stop(true);
  db.close();
});
