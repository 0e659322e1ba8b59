/**
 * /metrics stays bounded whatever anonymous clients ask for (CONTRACT §13): unknown paths, made-up tRPC
 * procedures, wrong and unusual methods all land on a fixed set of route and method labels.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { merchantHeaders, restCreate, startTestApp, type TestApp } from "./harness.ts";

let app: TestApp;
beforeAll(() => {
  app = startTestApp();
});
afterAll(() => app.stop());

/** The series of /metrics: every sample line, without comments. */
async function series(): Promise<string[]> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  return text.split("\n").filter((line) => line && !line.startsWith("#"));
}

// Methods Bun's HTTP parser accepts that the service does not serve (it refuses tokens it does not know).
const ODD_METHODS = ["PROPFIND", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "PURGE", "REPORT", "SEARCH", "MKCALENDAR"];

/** One request of each bogus kind, made distinct by `i`. */
async function bogus(i: number) {
  const asks: Array<[string, string, RequestInit?]> = [
    ["GET", `/bogus-${i}`],
    ["POST", `/nothing/here/${i}`, { body: "{}", headers: { "content-type": "application/json" } }],
    ["GET", `/payments/${i}/extra`],
    ["DELETE", `/payments/${i + 1}`], // a known path, another method: 405
    ["PUT", `/payments/pix/confirmation`],
    ["GET", `/trpc/payments.nope${i}`],
    ["GET", `/trpc/payments.get,payments.nope${i}?batch=1&input={}`],
    ["POST", `/trpc/made.up${i}`, { body: "x".repeat(70_000), headers: { "content-type": "application/json" } }],
    ["GET", `/pay/assets/nope-${i}.js`],
    ["GET", `/pay/not-a-uuid-${i}`],
    ["DELETE", `/pay/${crypto.randomUUID()}`],
    ["GET", `/docs/nope-${i}`],
    [ODD_METHODS[i % ODD_METHODS.length]!, `/odd-${i}`],
    [ODD_METHODS[(i + 3) % ODD_METHODS.length]!, "/payments"],
  ];
  const statuses = await Promise.all(
    asks.map(([method, path, init]) =>
      fetch(`${app.url}${path}`, { method, ...init }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      }),
    ),
  );
  return statuses;
}

describe("GET /metrics under bogus traffic", () => {
  test("200 rounds of distinct bogus paths and methods add no series", async () => {
    // Real traffic first, and one round of each bogus kind, so every label they map to exists.
    expect((await restCreate(app.url, 10)).status).toBe(200);
    expect((await fetch(`${app.url}/payments/1`, { headers: merchantHeaders() })).status).toBe(200);
    const first = await bogus(0);
    // Refusals all (a batch naming an unknown procedure is tRPC's 207 with an error inside).
    expect(first.filter((s) => !(s === 207 || (s >= 400 && s < 500)))).toEqual([]);
    await fetch(`${app.url}/metrics`).then((r) => r.text()); // the scrape's own series
    const before = await series();

    for (let i = 1; i <= 200; i += 20) await Promise.all(Array.from({ length: 20 }, (_, k) => bogus(i + k)));

    const after = await series();
    const names = (lines: string[]) => lines.map((l) => l.replace(/ [\d.e+-]+$/, "")).sort();
    const isCount = (l: string) => l.startsWith("http_request");
    expect(names(after.filter(isCount))).toEqual(names(before.filter(isCount)));
    expect(after.length).toBe(before.length);
    expect(after.join("\n")).not.toMatch(/bogus|nope|made\.up|odd-|not-a-uuid|PROPFIND|MKCOL/);
  }, 30_000);

  test("the labels are route templates and 'unmatched', each counted once per request", async () => {
    const counts = (await series()).filter((l) => l.startsWith("http_requests_total"));
    // 201 = the first round plus 200 more.
    for (const expected of [
      'http_requests_total{method="DELETE",route="/payments/{id}",status="405"} 201',
      'http_requests_total{method="PUT",route="/payments/pix/confirmation",status="405"} 201',
      'http_requests_total{method="unmatched",route="unmatched",status="404"} 201',
      'http_requests_total{method="unmatched",route="/payments",status="405"} 201',
      'http_requests_total{method="POST",route="unmatched",status="413"} 201',
      'http_requests_total{method="POST",route="unmatched",status="404"} 201',
      'http_requests_total{method="GET",route="/pay/assets/:file",status="404"} 201',
      'http_requests_total{method="GET",route="/pay/:bank_payment_id",status="404"} 201',
      'http_requests_total{method="DELETE",route="/pay/*",status="405"} 201',
      'http_requests_total{method="GET",route="/payments/{id}",status="200"} 1',
      'http_requests_total{method="POST",route="/payments",status="200"} 1',
    ]) {
      expect(counts).toContain(expected);
    }
    // /bogus, /payments/x/extra, /trpc/payments.nope and /docs/nope: four per round.
    expect(counts).toContain('http_requests_total{method="GET",route="unmatched",status="404"} 804');
  });

  test("known tRPC procedures keep their own label; a batch of them is /trpc/batch", async () => {
    const input = encodeURIComponent(JSON.stringify({ 0: { id: 1 }, 1: { limit: 1 } }));
    const batch = await fetch(`${app.url}/trpc/payments.get,payments.list?batch=1&input=${input}`, {
      headers: merchantHeaders(),
    });
    expect(batch.status).toBe(200);
    await batch.arrayBuffer();
    const one = await fetch(`${app.url}/trpc/payments.get?input=${encodeURIComponent('{"id":1}')}`, {
      headers: merchantHeaders(),
    });
    expect(one.status).toBe(200);
    await one.arrayBuffer();
    const text = (await series()).join("\n");
    expect(text).toMatch(/^http_requests_total\{method="GET",route="\/trpc\/batch",status="200"\} 1$/m);
    expect(text).toMatch(/^http_requests_total\{method="GET",route="\/trpc\/payments.get",status="200"\} 1$/m);
  });
});

describe("the merchant-webhook queue gauges", () => {
  test("one scrape reads the queue once for both gauges", async () => {
    const { createMetrics } = await import("../src/metrics.ts");
    const { createInMemoryBus } = await import("../src/bus/memory.ts");
    let reads = 0;
    const metrics = createMetrics({
      bus: createInMemoryBus(),
      paymentsByStatus: async () => ({ pending: 0, paid: 0, expired: 0 }),
      webhookQueue: async () => {
        reads++;
        return { pending: 3, oldestDueAgeSeconds: 7.5 };
      },
    });
    const text = await (await metrics.render()).text();
    expect(text).toContain("webhook_queue_depth 3");
    expect(text).toContain("webhook_oldest_due_seconds 7.5");
    expect(reads).toBe(1);
    await metrics.render();
    expect(reads).toBe(2);
  });
});
