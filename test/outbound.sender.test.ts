/**
 * The merchant-webhook sender (CONTRACT §10) against a real HTTP receiver on 127.0.0.1 whose answers each test
 * programs. Nothing leaves loopback; the only waiting is the 200–300 ms timeouts the tests set themselves.
 */
import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import {
  createWebhookSender,
  MAX_RESPONSE_BYTES,
  type SendOutcome,
  WEBHOOK_USER_AGENT,
} from "../src/outbound/sender.ts";

interface Received {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

const received: Received[] = [];
let answer: (request: Request) => Response | Promise<Response> = () => new Response(null, { status: 204 });

const receiver = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  idleTimeout: 0,
  async fetch(request) {
    received.push({
      method: request.method,
      path: new URL(request.url).pathname,
      headers: Object.fromEntries(request.headers),
      body: await request.text(),
    });
    return answer(request);
  },
});
const URL_ = `http://127.0.0.1:${receiver.port}/hooks/pix`;

afterAll(() => receiver.stop(true));
beforeEach(() => {
  received.length = 0;
  answer = () => new Response(null, { status: 204 });
});

const send = createWebhookSender();
const delivery = {
  url: URL_,
  headers: {
    "webhook-id": "evt_2b0c4a9f",
    "webhook-timestamp": "1764590400",
    "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
  },
  body: JSON.stringify({ type: "payment.paid", timestamp: "2026-12-01T12:00:00.000Z", data: { note: "Pedido ção ✓" } }),
};

/** A port nothing listens on: one the kernel just gave us and we closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** An endless body, produced only as fast as it is read; counts what was produced. */
function endless(chunkBytes = 64 * 1024) {
  const state = { produced: 0, cancelled: false };
  const chunk = new Uint8Array(chunkBytes).fill(120);
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      state.produced += chunk.byteLength;
      controller.enqueue(chunk);
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

/**
 * The receiver's stream is cancelled (the connection is dropped) soon after the sender returns, having produced a
 * few socket buffers' worth (Bun's server writes ahead into them), not an endless amount.
 */
async function stopsProducing(state: { produced: number; cancelled: boolean }) {
  const deadline = performance.now() + 2_000;
  while (!state.cancelled && performance.now() < deadline) await Bun.sleep(5);
  expect(state.cancelled).toBe(true);
  expect(state.produced).toBeLessThan(512 * MAX_RESPONSE_BYTES); // 32 MiB
}

describe("delivered", () => {
  test("200 and 204 are delivered, with the status and a duration", async () => {
    answer = () => new Response("ok");
    const ok = await send(delivery);
    expect(ok).toEqual({ ok: true, status: 200, durationMs: expect.any(Number) });
    answer = () => new Response(null, { status: 204 });
    expect(await send(delivery)).toMatchObject({ ok: true, status: 204 });
    expect(ok.durationMs).toBeGreaterThanOrEqual(0);
    expect(ok.durationMs).toBeLessThan(5_000);
  });

  test("the receiver gets one POST with exactly the body and the headers sent, JSON, our User-Agent", async () => {
    await send({ ...delivery, headers: { ...delivery.headers, "Content-Type": "text/plain" } });
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request!.method).toBe("POST");
    expect(request!.path).toBe("/hooks/pix");
    expect(request!.body).toBe(delivery.body);
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(request!.headers["user-agent"]).toBe(WEBHOOK_USER_AGENT);
    expect(WEBHOOK_USER_AGENT).toBe("pix-payment-api-webhooks/1");
    for (const [name, value] of Object.entries(delivery.headers)) expect(request!.headers[name]).toBe(value);
    expect(request!.headers["content-length"]).toBe(String(Buffer.byteLength(delivery.body)));
  });
});

describe("not delivered", () => {
  test("500 is a failure with its status, no advice and not gone", async () => {
    answer = () => new Response("boom", { status: 500, headers: { "retry-after": "7" } });
    expect(await send(delivery)).toEqual({
      ok: false,
      status: 500,
      error: "HTTP 500",
      retryAfterMs: null, // Retry-After counts on 429 and 503 only
      gone: false,
      durationMs: expect.any(Number),
    });
  });

  test("a redirect is not followed: the receiver sees one request", async () => {
    for (const status of [301, 302, 303, 307, 308]) {
      received.length = 0;
      answer = (request) =>
        new URL(request.url).pathname === "/elsewhere"
          ? new Response("followed")
          : new Response(null, { status, headers: { location: `http://127.0.0.1:${receiver.port}/elsewhere` } });
      expect(await send(delivery)).toMatchObject({
        ok: false,
        status,
        error: `Redirect (HTTP ${status}) not followed`,
        gone: false,
      });
      expect(received.map((r) => r.path)).toEqual(["/hooks/pix"]);
    }
  });

  test("410 Gone says gone", async () => {
    answer = () => new Response("bye", { status: 410 });
    expect(await send(delivery)).toMatchObject({
      ok: false,
      status: 410,
      error: "HTTP 410",
      gone: true,
      retryAfterMs: null,
    });
  });

  test("429 and 503 carry Retry-After as milliseconds, in seconds or as an HTTP-date", async () => {
    for (const status of [429, 503]) {
      answer = () => new Response(null, { status, headers: { "retry-after": "7" } });
      expect(await send(delivery)).toMatchObject({
        ok: false,
        status,
        error: `HTTP ${status}`,
        retryAfterMs: 7000,
      });
    }
    const now = Date.UTC(2026, 11, 1, 12, 0, 0);
    const atNow = createWebhookSender({ now: () => now });
    answer = () => new Response(null, { status: 503, headers: { "retry-after": "Tue, 01 Dec 2026 12:00:30 GMT" } });
    expect(await atNow(delivery)).toMatchObject({ status: 503, retryAfterMs: 30_000 });
    answer = () =>
      new Response(null, { status: 429, headers: { "retry-after": new Date(now + 90_000).toUTCString() } });
    expect(await atNow(delivery)).toMatchObject({ status: 429, retryAfterMs: 90_000 });
  });

  test("Retry-After that is negative, garbage, fractional or a past date gives no advice", async () => {
    const now = Date.UTC(2026, 11, 1, 12, 0, 0);
    const atNow = createWebhookSender({ now: () => now });
    for (const value of ["-5", "soon", "1.5", "7s", "Tue, 01 Dec 2026 11:59:00 GMT", "2026-12-01T12:05:00Z", ""]) {
      answer = () => new Response(null, { status: 429, headers: { "retry-after": value } });
      expect(await atNow(delivery)).toMatchObject({ status: 429, retryAfterMs: null });
    }
    answer = () => new Response(null, { status: 503 });
    expect(await atNow(delivery)).toMatchObject({ status: 503, retryAfterMs: null });
  });

  test("a receiver that never answers times out after timeoutMs", async () => {
    answer = () => new Promise<Response>(() => {});
    const quick = createWebhookSender({ timeoutMs: 200 });
    const outcome = await quick(delivery);
    expect(outcome).toEqual({
      ok: false,
      status: null,
      error: "Timed out after 0.2 s",
      retryAfterMs: null,
      gone: false,
      durationMs: expect.any(Number),
    });
    expect(outcome.durationMs).toBeGreaterThanOrEqual(190);
    expect(outcome.durationMs).toBeLessThan(2_000);
    expect(received).toHaveLength(1); // it did arrive; the answer never came
  });

  test("the default timeout is 10 s, and says so (its timer run at once, so nothing sleeps)", async () => {
    const untilAborted = ((_url: string, init?: RequestInit) =>
      new Promise<Response>((_, reject) =>
        init!.signal!.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))),
      )) as unknown as typeof fetch;
    const realSetTimeout = globalThis.setTimeout;
    const delays: number[] = [];
    globalThis.setTimeout = ((fn: () => void, ms: number) => {
      delays.push(ms);
      return realSetTimeout(fn, 0);
    }) as typeof setTimeout;
    let outcome: SendOutcome;
    try {
      outcome = await createWebhookSender({ fetch: untilAborted })(delivery);
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
    expect(delays).toEqual([10_000]);
    expect(outcome).toMatchObject({ ok: false, status: null, error: "Timed out after 10 s" });
  });

  test("a fetch that fails by itself before the timeout is not called a timeout", async () => {
    const failing = (async () => {
      throw new DOMException("The operation was aborted.", "AbortError");
    }) as unknown as typeof fetch;
    expect(await createWebhookSender({ fetch: failing })(delivery)).toMatchObject({
      ok: false,
      error: "The operation was aborted.",
    });
  });

  test("a port nothing listens on is a refused connection", async () => {
    const port = await closedPort();
    expect(await send({ ...delivery, url: `http://127.0.0.1:${port}/hooks?token=s3cret` })).toEqual({
      ok: false,
      status: null,
      error: "Connection refused",
      retryAfterMs: null,
      gone: false,
      durationMs: expect.any(Number),
    });
  });

  test("other errors are short and name neither the URL's query nor the headers", async () => {
    const url = "https://hooks.shop.example/pix?token=s3cret";
    const failing = (async () => {
      throw new Error(`certificate has expired for ${url} ${"x".repeat(500)}`);
    }) as unknown as typeof fetch;
    const outcome = await createWebhookSender({ fetch: failing })({ ...delivery, url });
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.error).toStartWith("certificate has expired for <url>");
    expect(outcome.error).not.toContain("s3cret");
    expect(outcome.error.length).toBeLessThanOrEqual(200);

    const bad = await send({ ...delivery, headers: { "webhook-signature": "v1,abc\r\nx-injected: 1" } });
    expect(bad).toMatchObject({ ok: false, status: null, error: "Invalid request headers" });
    expect(received).toHaveLength(0);
  });
});

describe("the receiver's answer is not buffered", () => {
  test("an endless 200 body is delivered at once, reading about 64 KiB of it", async () => {
    const body = endless();
    answer = () => new Response(body.stream);
    const started = performance.now();
    expect(await send(delivery)).toMatchObject({ ok: true, status: 200 });
    expect(performance.now() - started).toBeLessThan(3_000);
    await stopsProducing(body.state);
  });

  test("an endless 500 body is a failure at once", async () => {
    const body = endless();
    answer = () => new Response(body.stream, { status: 500 });
    expect(await send(delivery)).toMatchObject({ ok: false, status: 500, error: "HTTP 500" });
    await stopsProducing(body.state);
  });

  test("a 2xx whose body trickles forever is delivered when the timeout ends the read", async () => {
    let timer: ReturnType<typeof setInterval> | undefined;
    answer = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            timer = setInterval(() => {
              try {
                controller.enqueue(new Uint8Array([120]));
              } catch {
                clearInterval(timer);
              }
            }, 20);
          },
          cancel() {
            clearInterval(timer);
          },
        }),
      );
    const outcome = await createWebhookSender({ timeoutMs: 300 })(delivery);
    clearInterval(timer);
    expect(outcome).toMatchObject({ ok: true, status: 200 });
    expect(outcome.durationMs).toBeLessThan(2_000);
  });
});
