import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPaymentClient } from "../client/index.ts";
import { trpcHttpCounts } from "../src/http/trpc-http.ts";
import { manualClock, merchantHeaders, signWebhook, startTestApp, type TestApp } from "./harness.ts";

/**
 * /trpc answers the common call (one query or mutation, not batched) itself and leaves everything else,
 * and every error, to tRPC's fetch adapter (src/http/trpc-http.ts). Two apps with the same clock and ids,
 * one with that direct path and one without, get the same requests in the same order: every response
 * must be the same, byte for byte.
 */
function sequentialIds() {
  let n = 0;
  return { uuid: () => `00000000-0000-4000-8000-${String(++n).padStart(12, "0")}` };
}

let fast: TestApp;
let library: TestApp;

beforeAll(() => {
  fast = startTestApp({ clock: manualClock(), ids: sequentialIds(), trpcFastPath: true });
  library = startTestApp({ clock: manualClock(), ids: sequentialIds(), trpcFastPath: false });
});
afterAll(async () => {
  await fast.stop();
  await library.stop();
});

interface Call {
  name: string;
  method: "GET" | "POST";
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

async function send(app: TestApp, c: Call) {
  const res = await fetch(`${app.url}${c.path}`, { method: c.method, headers: c.headers, body: c.body });
  return {
    status: res.status,
    contentType: res.headers.get("content-type"),
    vary: res.headers.get("vary"),
    allow: res.headers.get("allow"),
    body: (await res.text()).replaceAll(app.publicUrl(), "<base>"),
  };
}

const input = (v: unknown) => encodeURIComponent(JSON.stringify(v));
const auth = merchantHeaders();
const authKey = (key: string) => merchantHeaders(undefined, { "idempotency-key": key });
const confirmBody = JSON.stringify({ bank_payment_id: "00000000-0000-4000-8000-000000000001", value: 10 });
const signed = signWebhook(confirmBody, { id: "msg_equivalence_1" });

const calls: Call[] = [
  { name: "create", method: "POST", path: "/trpc/payments.create", headers: authKey("k1"), body: '{"value":10}' },
  {
    name: "create replayed",
    method: "POST",
    path: "/trpc/payments.create",
    headers: authKey("k1"),
    body: '{"value":10}',
  },
  {
    name: "create, key reused with another amount",
    method: "POST",
    path: "/trpc/payments.create",
    headers: authKey("k1"),
    body: '{"value":11}',
  },
  {
    name: "create without a key",
    method: "POST",
    path: "/trpc/payments.create",
    headers: { "content-type": "application/json" },
    body: '{"value":10}',
  },
  {
    name: "create with a bad amount",
    method: "POST",
    path: "/trpc/payments.create",
    headers: auth,
    body: '{"value":-1}',
  },
  {
    name: "create with 3 decimals",
    method: "POST",
    path: "/trpc/payments.create",
    headers: auth,
    body: '{"value":1.234}',
  },
  {
    name: "create with malformed JSON",
    method: "POST",
    path: "/trpc/payments.create",
    headers: auth,
    body: '{"value":',
  },
  { name: "create with an empty body", method: "POST", path: "/trpc/payments.create", headers: auth, body: "" },
  {
    name: "create with a duplicate key",
    method: "POST",
    path: "/trpc/payments.create",
    headers: auth,
    body: '{"value":1,"value":254.3}',
  },
  {
    name: "create with a number a double cannot hold",
    method: "POST",
    path: "/trpc/payments.create",
    headers: auth,
    body: '{"value":254.3000000000000001}',
  },
  {
    name: "create with a bad idempotency key",
    method: "POST",
    path: "/trpc/payments.create",
    headers: authKey("a b"),
    body: '{"value":10}',
  },
  {
    name: "create without a content type",
    method: "POST",
    path: "/trpc/payments.create",
    headers: { authorization: auth.authorization },
    body: '{"value":10}',
  },
  { name: "get", method: "GET", path: `/trpc/payments.get?input=${input({ id: 1 })}`, headers: auth },
  { name: "get, unknown id", method: "GET", path: `/trpc/payments.get?input=${input({ id: 999 })}`, headers: auth },
  { name: "get without input", method: "GET", path: "/trpc/payments.get", headers: auth },
  { name: "get with malformed input", method: "GET", path: "/trpc/payments.get?input=%7B", headers: auth },
  { name: "get without a key", method: "GET", path: `/trpc/payments.get?input=${input({ id: 1 })}` },
  { name: "list", method: "GET", path: `/trpc/payments.list?input=${input({ limit: 5 })}`, headers: auth },
  {
    name: "list with a bad status",
    method: "GET",
    path: `/trpc/payments.list?input=${input({ status: "nope" })}`,
    headers: auth,
  },
  { name: "a query with POST", method: "POST", path: "/trpc/payments.get", headers: auth, body: '{"id":1}' },
  {
    name: "a mutation with GET",
    method: "GET",
    path: `/trpc/payments.create?input=${input({ value: 1 })}`,
    headers: auth,
  },
  { name: "no such procedure", method: "GET", path: "/trpc/payments.nope", headers: auth },
  {
    name: "batched",
    method: "GET",
    path: `/trpc/payments.get,payments.get?batch=1&input=${input({ 0: { id: 1 }, 1: { id: 9 } })}`,
    headers: auth,
  },
  { name: "confirm, signed", method: "POST", path: "/trpc/payments.confirm", headers: signed, body: confirmBody },
  { name: "confirm replayed", method: "POST", path: "/trpc/payments.confirm", headers: signed, body: confirmBody },
  {
    name: "confirm, body changed",
    method: "POST",
    path: "/trpc/payments.confirm",
    headers: signed,
    body: confirmBody.replace("10", "11"),
  },
  {
    name: "confirm unsigned",
    method: "POST",
    path: "/trpc/payments.confirm",
    headers: { "content-type": "application/json" },
    body: confirmBody,
  },
  { name: "get after payment", method: "GET", path: `/trpc/payments.get?input=${input({ id: 1 })}`, headers: auth },
];

describe("tRPC over HTTP: the direct path answers exactly as tRPC's fetch adapter", () => {
  test("every response of a mixed sequence is the same, status, headers and body", async () => {
    const before = trpcHttpCounts.fast;
    const statuses = new Set<number>();
    for (const c of calls) {
      const [a, b] = [await send(fast, c), await send(library, c)];
      expect({ call: c.name, ...a }).toEqual({ call: c.name, ...b });
      statuses.add(a.status);
    }
    // The sequence exercised successes and the contract's errors, most of them on the direct path.
    expect([...statuses].sort()).toEqual([200, 207, 400, 401, 404, 405, 415, 422]);
    expect(trpcHttpCounts.fast - before).toBe(23); // all but the five the direct path must leave to tRPC
  });

  test("the typed client works over both links (httpLink takes the direct path, httpBatchLink the adapter)", async () => {
    for (const batch of [false, true]) {
      const client = createPaymentClient({ url: fast.url, apiKey: merchantHeaders().authorization.slice(7), batch });
      const before = trpcHttpCounts.fast;
      const created = await client.payments.create.mutate({ value: 12.5 });
      const read = await client.payments.get.query({ id: created.payment.id });
      expect(read.payment).toEqual(created.payment);
      await expect(client.payments.get.query({ id: 987654 })).rejects.toThrow("Payment not found");
      expect(trpcHttpCounts.fast - before).toBe(batch ? 0 : 3);
    }
  });
});

describe("tRPC over HTTP: request bodies", () => {
  const chunked = (kib: number) => {
    const chunk = new TextEncoder().encode("x".repeat(1024));
    let sent = 0;
    // A stream body goes out chunked, with no Content-Length to refuse up front.
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < kib) controller.enqueue(chunk);
        else controller.close();
      },
    });
  };

  for (const [name, path] of [
    ["a single call", "/trpc/payments.create"],
    ["a batch (tRPC's adapter)", "/trpc/payments.create?batch=1"],
  ] as const) {
    test(`${name}: a chunked body over 64 KiB gets 413 with the contract's message`, async () => {
      const res = await fetch(`${fast.url}${path}`, { method: "POST", headers: merchantHeaders(), body: chunked(100) });
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({ message: "Request body too large (limit 64 KiB)" });
    });
  }

  test("a chunked body under the limit is read as usual", async () => {
    const text = '{"value":7}';
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(text));
        controller.close();
      },
    });
    const res = await fetch(`${fast.url}/trpc/payments.create`, { method: "POST", headers: merchantHeaders(), body });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).result.data.payment.value).toBe(7);
  });
});
