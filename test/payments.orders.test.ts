/**
 * Orders on the charge (CONTRACT §3): description, metadata and return_url on create, through REST and tRPC:
 * validated with the contract's messages, stored, returned, part of idempotency, kept from payers' channels.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPaymentClient, createPaymentWatchClient, TRPCClientError } from "../client/index.ts";
import { merchantHeaders, openSocket, startTestApp, TEST_API_KEY, type TestApp, waitUntil, wsUrl } from "./harness.ts";

const ORDER = {
  description: "Pedido #1234 · 2 pães de queijo",
  metadata: { order_id: "1234", customer: "c_987", "chave com espaço": "valor ✓" },
  return_url: "https://loja.example/pedidos/1234?x=1#fim",
};

let app: TestApp;
beforeAll(() => {
  app = startTestApp({ env: { PUBLIC_URL: "https://pay.example.com" } });
});
afterAll(() => app.stop());

async function post(body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${app.url}/payments`, {
    method: "POST",
    headers: merchantHeaders(TEST_API_KEY, headers),
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe("creating a charge with its order", () => {
  test("REST stores and returns description, metadata and return_url; GET and the list return them too", async () => {
    const { status, body } = await post({ value: 254.3, ...ORDER });
    expect(status).toBe(200);
    expect(body.payment).toMatchObject({ value: 254.3, ...ORDER });
    const read = await fetch(`${app.url}/payments/${body.payment.id}`, { headers: merchantHeaders() });
    expect(((await read.json()) as any).payment).toEqual(body.payment);
    const list = (await (await fetch(`${app.url}/payments?limit=1`, { headers: merchantHeaders() })).json()) as any;
    expect(list.payments[0]).toEqual(body.payment);
    // The same order, read straight from the database: metadata is JSON text.
    const [row] = await app.query(
      "SELECT description, metadata, return_url FROM payments WHERE id = ?",
      body.payment.id,
    );
    expect(row).toEqual({
      description: ORDER.description,
      metadata: JSON.stringify(ORDER.metadata),
      return_url: ORDER.return_url,
    });
  });

  test("without them (or with null) a payment reads null, {} and null", async () => {
    for (const extra of [{}, { description: null, metadata: null, return_url: null }]) {
      const { status, body } = await post({ value: 10, ...extra });
      expect(status).toBe(200);
      expect(body.payment).toMatchObject({ description: null, metadata: {}, return_url: null });
    }
  });

  test("tRPC create takes the same fields and returns the same object as REST", async () => {
    const client = createPaymentClient({ url: app.url, apiKey: TEST_API_KEY, batch: false });
    const { payment } = await client.payments.create.mutate({ value: 12.5, ...ORDER });
    expect(payment).toMatchObject({ value: 12.5, ...ORDER });
    const rest = await fetch(`${app.url}/payments/${payment.id}`, { headers: merchantHeaders() });
    expect(((await rest.json()) as any).payment).toEqual(payment);
    const got = await client.payments.get.query({ id: payment.id });
    expect(got.payment.metadata).toEqual(ORDER.metadata);
  });

  test("limits are characters, not UTF-16 units: 140 emoji are a valid description", async () => {
    const { status, body } = await post({ value: 1, description: "😀".repeat(140) });
    expect(status).toBe(200);
    expect(body.payment.description).toBe("😀".repeat(140));
  });
});

const manyKeys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));

const INVALID: Array<[string, Record<string, unknown>, string]> = [
  ["an empty description", { description: "" }, "Invalid description"],
  ["a description of 141 characters", { description: "a".repeat(141) }, "Invalid description"],
  ["a description that is a number", { description: 1234 }, "Invalid description"],
  ["a description with a newline", { description: "Pedido\n1234" }, "Invalid description"],
  ["metadata that is an array", { metadata: ["a"] }, "Invalid metadata"],
  ["metadata that is a string", { metadata: "order_id=1" }, "Invalid metadata"],
  ["metadata with 21 keys", { metadata: manyKeys(21) }, "Invalid metadata"],
  ["a metadata key of 41 characters", { metadata: { ["k".repeat(41)]: "v" } }, "Invalid metadata"],
  ["an empty metadata key", { metadata: { "": "v" } }, "Invalid metadata"],
  ["a metadata value of 501 characters", { metadata: { k: "v".repeat(501) } }, "Invalid metadata"],
  ["a metadata value that is a number", { metadata: { order_id: 1234 } }, "Invalid metadata"],
  ["a nested metadata value", { metadata: { order: { id: "1" } } }, "Invalid metadata"],
  ["a javascript: return_url", { return_url: "javascript:alert(1)" }, "Invalid return_url"],
  ["a data: return_url", { return_url: "data:text/html,<script>alert(1)</script>" }, "Invalid return_url"],
  ["a relative return_url", { return_url: "/pedidos/1234" }, "Invalid return_url"],
  ["an ftp return_url", { return_url: "ftp://loja.example/x" }, "Invalid return_url"],
  ["a return_url with spaces around it", { return_url: " https://loja.example/ " }, "Invalid return_url"],
  ["a return_url without a host", { return_url: "https://" }, "Invalid return_url"],
  ["a return_url of 2049 characters", { return_url: `https://loja.example/${"a".repeat(2029)}` }, "Invalid return_url"],
  ["a bad value with a good order", { value: -1, description: "ok" }, "Invalid value"],
];

describe("a bad order field is a 400 with the contract's message, and creates nothing", () => {
  test.each(INVALID)("REST: %s", async (_name, fields, message) => {
    const before = (await app.service.countByStatus()).pending;
    const { status, body } = await post({ value: 10, ...fields });
    expect(status).toBe(400);
    expect(body.message).toBe(message);
    expect(body.issues?.[0]?.path?.[0]).toBe(message === "Invalid value" ? "value" : message.slice(8));
    expect((await app.service.countByStatus()).pending).toBe(before);
  });

  test.each(INVALID)("tRPC: %s", async (_name, fields, message) => {
    const client = createPaymentClient({ url: app.url, apiKey: TEST_API_KEY, batch: false });
    const err = await client.payments.create.mutate({ value: 10, ...(fields as object) } as never).catch((e) => e);
    expect(err).toBeInstanceOf(TRPCClientError);
    expect(err.message).toBe(message);
    expect(err.data.httpStatus).toBe(400);
  });

  test("a metadata key __proto__ is refused rather than dropped (metadata is returned as given)", async () => {
    const { status, body } = await post('{"value": 10, "metadata": {"__proto__": "x", "order_id": "1"}}');
    expect(status).toBe(400);
    expect(body.message).toBe("Invalid metadata");
  });

  test("an unknown field is still the value's message", async () => {
    expect((await post({ value: 10, descripton: "typo" })).body.message).toBe("Invalid value");
  });
});

describe("idempotency covers the order", () => {
  const key = () => `order-${crypto.randomUUID()}`;

  test("the same key and the same order answer the first payment; metadata in another order is the same", async () => {
    const k = key();
    const first = await post({ value: 20, ...ORDER }, { "idempotency-key": k });
    const reordered = Object.fromEntries(Object.entries(ORDER.metadata).reverse());
    const again = await post({ value: 20, ...ORDER, metadata: reordered }, { "idempotency-key": k });
    expect(again.status).toBe(200);
    expect(again.body.payment.id).toBe(first.body.payment.id);
  });

  test.each([
    ["another description", { description: "Pedido #9999" }],
    ["no description", { description: undefined }],
    ["another metadata value", { metadata: { ...ORDER.metadata, order_id: "9999" } }],
    ["one metadata key fewer", { metadata: { order_id: "1234" } }],
    ["another return_url", { return_url: "https://loja.example/pedidos/9999" }],
  ])("the same key with %s is a 422", async (_name, change) => {
    const k = key();
    expect((await post({ value: 20, ...ORDER }, { "idempotency-key": k })).status).toBe(200);
    const other = await post({ value: 20, ...ORDER, ...change }, { "idempotency-key": k });
    expect(other).toEqual({ status: 422, body: { message: "Idempotency key reused with different parameters" } });
  });
});

describe("return_url in production", () => {
  test("must be https: plain http is a 400 Invalid return_url, https is stored", async () => {
    const prod = startTestApp({
      env: {
        NODE_ENV: "production",
        PUBLIC_URL: "https://pay.example.com",
        PIX_KEY: "loja@example.com",
      },
    });
    try {
      const create = (return_url: string) =>
        fetch(`${prod.url}/payments`, {
          method: "POST",
          headers: merchantHeaders(),
          body: JSON.stringify({ value: 10, return_url }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
      expect(await create("http://loja.example/pedidos/1")).toEqual({
        status: 400,
        body: { message: "Invalid return_url" },
      });
      const ok = await create("https://loja.example/pedidos/1");
      expect(ok.status).toBe(200);
      expect(ok.body.payment.return_url).toBe("https://loja.example/pedidos/1");
    } finally {
      await prod.stop();
    }
  });

  test("outside production plain http is accepted (a shop on localhost)", async () => {
    const { status, body } = await post({ value: 10, return_url: "http://localhost:8080/obrigado" });
    expect(status).toBe(200);
    expect(body.payment.return_url).toBe("http://localhost:8080/obrigado");
  });
});

describe("payers' channels never carry the merchant's metadata", () => {
  test("/ws frames and tRPC watch events have the description and return_url, not the metadata", async () => {
    const { payment } = (await post({ value: 30, ...ORDER })).body;
    const socket = await openSocket(wsUrl(app.url, `/ws?bank_payment_id=${payment.bank_payment_id}`));
    try {
      const frame = await socket.next((m) => m.type === "payment");
      expect(frame.payment).toMatchObject({ description: ORDER.description, return_url: ORDER.return_url });
      expect(frame.payment).not.toHaveProperty("metadata");
    } finally {
      socket.close();
    }

    const watcher = createPaymentWatchClient({ url: app.url, transport: "sse" });
    const events: any[] = [];
    const sub = watcher.payments.watch.subscribe(
      { bank_payment_id: payment.bank_payment_id },
      { onData: (e) => events.push(e.data) },
    );
    try {
      await waitUntil(() => events.length > 0, 5000, "a watch event");
      expect(events[0]).toMatchObject({ description: ORDER.description, return_url: ORDER.return_url });
      expect(events[0]).not.toHaveProperty("metadata");
    } finally {
      sub.unsubscribe();
      await watcher.close();
    }
  });
});

test("a charge without metadata stores NULL, as rows from before the column do, never '{}'", async () => {
  const [counts] = (await app.query(
    "SELECT SUM(CASE WHEN metadata IS NULL THEN 1 ELSE 0 END) AS none, SUM(CASE WHEN metadata = '{}' THEN 1 ELSE 0 END) AS empty FROM payments",
  )) as Array<{ none: number; empty: number }>;
  expect(counts!.none).toBeGreaterThan(0);
  expect(counts!.empty).toBe(0);
});
