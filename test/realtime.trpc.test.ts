import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPaymentWatchClient, type PaymentWatchClient } from "../client/index.ts";
import { restConfirm, restCreate, waitUntil } from "./harness.ts";
import { startTwoInstances } from "./redis.ts";

let cluster: Awaited<ReturnType<typeof startTwoInstances>>;
const clients: PaymentWatchClient[] = [];
const stops: Array<() => void> = [];

beforeAll(async () => {
  cluster = await startTwoInstances();
}, 30_000);
afterAll(async () => {
  for (const stop of stops) stop();
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
}, 30_000);

/** Subscribes to payments.watch and records every `{ id, data }` and error. */
function watch(url: string, transport: "sse" | "ws", input: { bank_payment_id: string; lastEventId?: string }) {
  const client = createPaymentWatchClient({ url, transport });
  clients.push(client);
  const events: Array<{ id: string; data: any }> = [];
  const errors: any[] = [];
  const sub = client.payments.watch.subscribe(input, {
    onData: (e) => events.push(e as any),
    onError: (e) => errors.push(e),
  });
  stops.push(() => sub.unsubscribe());
  return { events, errors, stop: () => sub.unsubscribe() };
}

for (const transport of ["sse", "ws"] as const) {
  describe(`payments.watch over ${transport === "sse" ? "SSE at /trpc (httpSubscriptionLink)" : "a WebSocket at /trpc-ws (wsLink)"}`, () => {
    test("yields the current state, then a confirmation made on the other instance, each with an event id", async () => {
      const { payment } = (await restCreate(cluster.a.url, 42)).body;
      const w = watch(cluster.b.url, transport, { bank_payment_id: payment.bank_payment_id });
      await waitUntil(() => w.events.length >= 1, 5000, "snapshot");
      expect(w.events[0]!.data).toMatchObject({ id: payment.id, status: "pending", paid: false, value: 42 });
      expect(w.events[0]!.id).toMatch(/^\d+$/);
      expect((await restConfirm(cluster.a.url, { bank_payment_id: payment.bank_payment_id, value: 42 })).status).toBe(
        200,
      );
      await waitUntil(() => w.events.length >= 2, 5000, "paid event");
      expect(w.events[1]!.data).toMatchObject({ id: payment.id, status: "paid", paid: true });
      expect(Number(w.events[1]!.id)).toBeGreaterThan(Number(w.events[0]!.id));
      await Bun.sleep(200);
      expect(w.events).toHaveLength(2);
      expect(w.errors).toEqual([]);
    }, 30_000);

    test("resuming with the last event id yields only what changed since", async () => {
      const { payment } = (await restCreate(cluster.a.url, 7)).body;
      const first = watch(cluster.a.url, transport, { bank_payment_id: payment.bank_payment_id });
      await waitUntil(() => first.events.length >= 1, 5000, "snapshot");
      const seen = first.events[0]!.id;
      first.stop();
      // Nothing changed: a resume with the current id yields nothing until the next change.
      const upToDate = watch(cluster.b.url, transport, { bank_payment_id: payment.bank_payment_id, lastEventId: seen });
      await restConfirm(cluster.b.url, { bank_payment_id: payment.bank_payment_id, value: 7 });
      await waitUntil(() => upToDate.events.length >= 1, 5000, "paid event");
      expect(upToDate.events.map((e) => e.data.status)).toEqual(["paid"]);
      // It changed while this one was away: the resume yields the current state at once.
      const behind = watch(cluster.b.url, transport, { bank_payment_id: payment.bank_payment_id, lastEventId: seen });
      await waitUntil(() => behind.events.length >= 1, 5000, "missed change");
      expect(behind.events[0]!.data.status).toBe("paid");
      expect(behind.events[0]!.id).toBe(upToDate.events[0]!.id);
    }, 30_000);

    test("an unknown payment is NOT_FOUND with the contract's message", async () => {
      const w = watch(cluster.a.url, transport, { bank_payment_id: crypto.randomUUID() });
      await waitUntil(() => w.errors.length >= 1, 5000, "error");
      expect(w.errors[0].message).toBe("Payment not found");
      expect(w.errors[0].data?.code).toBe("NOT_FOUND");
      expect(w.events).toEqual([]);
    }, 30_000);
  });
}

describe("SSE keep-alive", () => {
  test("a quiet SSE stream gets a ping within 10 s, so Bun's 30 s idle timeout never cuts it", async () => {
    const { payment } = (await restCreate(cluster.a.url, 1)).body;
    const input = encodeURIComponent(JSON.stringify({ bank_payment_id: payment.bank_payment_id }));
    const controller = new AbortController();
    const res = await fetch(`${cluster.b.url}/trpc/payments.watch?input=${input}`, {
      headers: { accept: "text/event-stream" },
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const started = Date.now();
    try {
      while (!/event: ping/.test(text)) {
        const { value, done } = await Promise.race([
          reader.read(),
          Bun.sleep(12_000).then(() => ({ value: undefined, done: true })),
        ]);
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } finally {
      controller.abort();
    }
    expect(text).toContain(`"bank_payment_id":"${payment.bank_payment_id}"`);
    expect(text).toMatch(/^id: \d+$/m);
    expect(text).toContain("event: ping");
    expect(Date.now() - started).toBeLessThan(11_500);
  }, 20_000);
});
