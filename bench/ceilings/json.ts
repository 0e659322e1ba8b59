/** Ceiling (1): the least a Bun.serve can do — a fixed small JSON body. */
import { announce, PORT, stopOnSignal } from "./common.ts";

const server = Bun.serve({
  port: PORT,
  hostname: "127.0.0.1",
  fetch: () => Response.json({ message: "ok", id: 1 }),
});
announce(server.port);
stopOnSignal(() => server.stop(true));
