import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { restCreate, startTestApp, type TestApp, waitUntil } from "./harness.ts";

let app: TestApp;
beforeAll(() => {
  app = startTestApp();
}, 30_000);
afterAll(() => app.stop());

/** A masked client text frame (RFC 6455 §5.2), small enough for a 2-byte or 16-bit length. */
function clientFrame(text: string): Buffer {
  const payload = Buffer.from(text);
  const header =
    payload.length < 126
      ? Buffer.from([0x81, 0x80 | payload.length])
      : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  return Buffer.concat([header, Buffer.from([0, 0, 0, 0]), payload]); // mask key 0: the payload stays as is
}

const openSockets = async () => {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  return Number(/^websocket_connections\{path="\/ws"\} (\d+)/m.exec(text)?.[1] ?? 0);
};

test("a consumer that stops reading is dropped once 256 KiB are queued for it, not buffered for ever", async () => {
  const { payment } = (await restCreate(app.url, 10)).body;
  const { port } = new URL(app.url);
  const socket: Socket = connect(Number(port), "127.0.0.1");
  await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
  socket.write(
    `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  await new Promise<void>((resolve) => socket.once("data", () => resolve())); // the 101
  socket.pause(); // from now on, never read
  await waitUntil(async () => (await openSockets()) === 1, 5000, "socket open");
  // Every subscribe to an already watched payment re-sends its state (~700 bytes): ask for 40 MB of them.
  const frame = clientFrame(JSON.stringify({ type: "subscribe", bank_payment_id: payment.bank_payment_id }));
  for (let i = 0; i < 60_000 && (await openSockets()) === 1; i += 2000) {
    socket.write(Buffer.concat(Array.from({ length: 2000 }, () => frame)));
    await Bun.sleep(20);
  }
  await waitUntil(async () => (await openSockets()) === 0, 10_000, "slow consumer dropped");
  socket.destroy();
  expect(await openSockets()).toBe(0);
}, 30_000);
