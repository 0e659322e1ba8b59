import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "node:net";
import { merchantHeaders, type ServerProcess, spawnServer, TEST_API_KEY } from "./harness.ts";

/**
 * Issue 10, item 12, known upstream: Bun (1.4.5) closes a pipelined HTTP/1.1 connection without answering
 * when the first request's handler is still running (it reads its body and writes), after that write
 * committed (oven-sh/bun PR #38128 is open). Not ours to fix; the README's deployment notes say what to do
 * (Idempotency-Key, a proxy that does not pipeline upstream). This test records today's behaviour, so the
 * Bun upgrade that fixes it fails here and the README gets updated.
 */
let server: ServerProcess;
beforeAll(async () => {
  server = await spawnServer({});
});
afterAll(() => server.stop());

/** Sends both requests in one TCP write; returns the status lines received and whether the server closed. */
function pipelined(payload: string): Promise<{ statuses: string[]; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(server.port, "127.0.0.1");
    let text = "";
    const done = (closedByServer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      // Status lines (a body ends right where the next response begins, so no line anchor).
      resolve({ statuses: text.match(/HTTP\/1\.1 \d{3}/g) ?? [], closedByServer });
    };
    const timer = setTimeout(() => done(false), 2000);
    socket.on("data", (d) => {
      text += d.toString("latin1");
    });
    socket.on("close", () => done(true));
    socket.on("error", () => {});
    socket.write(payload);
  });
}

const paymentsCount = async () =>
  ((await (await fetch(`${server.url}/payments?limit=100`, { headers: merchantHeaders() })).json()) as any).payments
    .length as number;

test("today: a request pipelined after a create gets no answer, the connection closes, the create committed", async () => {
  const body = '{"value":10}';
  const create =
    `POST /payments HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TEST_API_KEY}\r\n` +
    `Content-Type: application/json\r\nIdempotency-Key: pipelined-1\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const health = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  const before = await paymentsCount();
  const observed = await pipelined(create + health);
  // The handler goes on after the connection closed: give its commit a moment before counting.
  let created = (await paymentsCount()) - before;
  for (const deadline = Date.now() + 2000; created === 0 && Date.now() < deadline; ) {
    await Bun.sleep(25);
    created = (await paymentsCount()) - before;
  }

  const knownBroken = { statuses: [], closedByServer: true, created: 1 };
  const now = { ...observed, created };
  if (JSON.stringify(now) !== JSON.stringify(knownBroken)) {
    throw new Error(
      `Bun fixed pipelining: update README item "Pipelined HTTP/1.1 requests" (Deployment notes) and this test. ` +
        `Observed ${JSON.stringify(now)}, where Bun 1.4.5 gave ${JSON.stringify(knownBroken)}.`,
    );
  }
  // The client saw nothing; a retry with the same Idempotency-Key gets the payment the lost answer carried.
  const retry = await fetch(`${server.url}/payments`, {
    method: "POST",
    headers: merchantHeaders(undefined, { "idempotency-key": "pipelined-1" }),
    body,
  });
  expect(retry.status).toBe(200);
  expect((await paymentsCount()) - before).toBe(1);
});

test("pipelined requests whose handlers answer at once are served in order (what does work)", async () => {
  const health = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  expect(await pipelined(health + health + health)).toEqual({
    statuses: ["HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 200"],
    closedByServer: false,
  });
});
