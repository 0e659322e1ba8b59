/**
 * One client thread of the fan-out benchmark (bench/fanout.ts starts two, one per core): it holds its share
 * of the /ws sockets and reports, for a watched payment, when each socket received `paid`. Times are
 * absolute (performance.timeOrigin + performance.now()), so the main thread can compare threads.
 */
import { createClient } from "redis";

declare const self: Worker;

export type ToClient =
  | { type: "open"; sockets: Array<{ url: string; instance: "A" | "B" }> }
  | { type: "watch"; id: string }
  | { type: "unwatch"; id: string }
  | { type: "close" }
  | { type: "redis-subscribe"; url: string; channel: string };
export type FromClient =
  | { type: "redis-subscribed" }
  | { type: "redis-message"; at: number }
  | { type: "opened"; count: number }
  | { type: "snapshots"; id: string }
  | { type: "paid"; id: string; times: number[]; first: { A: number; B: number } }
  | { type: "error"; message: string };

const now = () => performance.timeOrigin + performance.now();
const post = (m: FromClient) => self.postMessage(m);

interface Socket {
  ws: WebSocket;
  instance: "A" | "B";
}
const sockets: Socket[] = [];
let onMessage: (s: Socket, text: string) => void = () => {};

function open(url: string, instance: "A" | "B"): Promise<Socket> {
  const ws = new WebSocket(url);
  const s: Socket = { ws, instance };
  // Substring checks, no JSON parsing: the client's own cost is kept out of the figures as far as it can be.
  ws.addEventListener("message", (e) => onMessage(s, e.data as string));
  return new Promise((resolve, reject) => {
    ws.addEventListener("open", () => resolve(s), { once: true });
    ws.addEventListener("error", () => reject(new Error(`socket to ${url} failed`)), { once: true });
  });
}

self.onmessage = async (event: MessageEvent<ToClient>) => {
  const m = event.data;
  try {
    switch (m.type) {
      case "open":
        for (let i = 0; i < m.sockets.length; i += 250) {
          sockets.push(...(await Promise.all(m.sockets.slice(i, i + 250).map((s) => open(s.url, s.instance)))));
        }
        post({ type: "opened", count: sockets.length });
        break;
      case "watch": {
        const n = sockets.length;
        let snapshots = 0;
        const times: number[] = [];
        const first = { A: NaN, B: NaN };
        onMessage = (s, text) => {
          if (!text.includes(m.id)) return;
          if (text.includes('"status":"pending"')) {
            if (++snapshots === n) post({ type: "snapshots", id: m.id });
          } else if (text.includes('"status":"paid"')) {
            const t = now();
            times.push(t);
            if (Number.isNaN(first[s.instance])) first[s.instance] = t;
            if (times.length === n) post({ type: "paid", id: m.id, times, first });
          }
        };
        const message = JSON.stringify({ type: "subscribe", bank_payment_id: m.id });
        for (const s of sockets) s.ws.send(message);
        break;
      }
      case "unwatch": {
        const message = JSON.stringify({ type: "unsubscribe", bank_payment_id: m.id });
        for (const s of sockets) s.ws.send(message);
        break;
      }
      case "close":
        for (const s of sockets) s.ws.close();
        sockets.length = 0;
        break;
      case "redis-subscribe": {
        // For the Redis hop comparison: a plain node-redis subscriber, timing each message on arrival.
        const sub = createClient({ url: m.url });
        await sub.connect();
        await sub.subscribe(m.channel, () => post({ type: "redis-message", at: now() }));
        post({ type: "redis-subscribed" });
        break;
      }
    }
  } catch (err) {
    post({ type: "error", message: String(err) });
  }
};
