/**
 * Merchant webhooks are safe by default (CONTRACT §10, §2): in production only https URLs that resolve to public
 * addresses are registered, and the address is checked again before every attempt (DNS rebinding);
 * WEBHOOK_ALLOW_PRIVATE_URLS=true lifts it. Bad WEBHOOK_* settings stop start-up naming the variable.
 * The resolver is injected (`webhookLookup`), so no test leaves the machine.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { loadConfig } from "../src/config.ts";
import {
  BUN,
  manualClock,
  merchantHeaders,
  ROOT,
  restCreate,
  restGet,
  startTestApp,
  TEST_API_KEY,
  TEST_WEBHOOK_SECRET,
  tempDir,
} from "./harness.ts";
import { startReceiver } from "./webhook-receiver.ts";

const stops: Array<() => unknown> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

const PRODUCTION = {
  NODE_ENV: "production",
  PUBLIC_URL: "https://pay.example",
  PIX_KEY: "financeiro@loja.example",
};

function productionApp(lookup: (host: string) => Promise<string[]>, env: Record<string, string> = {}) {
  const app = startTestApp({
    clock: manualClock(Date.now()),
    env: { ...PRODUCTION, ...env },
    webhookLookup: lookup,
  });
  stops.push(app.stop);
  return app;
}

async function register(url: string, body: Record<string, unknown>) {
  const res = await fetch(`${url}/webhook-endpoints`, {
    method: "POST",
    headers: merchantHeaders(),
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe("SSRF in production", () => {
  test("private, loopback, link-local, metadata and http:// URLs are refused; a public https one is accepted", async () => {
    const asked: string[] = [];
    const names: Record<string, string[]> = {
      "hooks.shop.example": ["93.184.215.14"],
      "sneaky.shop.example": ["10.1.2.3"],
    };
    const app = productionApp(async (host) => {
      asked.push(host);
      return names[host] ?? [];
    });
    for (const url of [
      "http://hooks.shop.example/x",
      "https://127.0.0.1/x",
      "https://localhost/x",
      "https://[::1]/x",
      "https://10.0.0.5/x",
      "https://192.168.1.1/x",
      "https://169.254.169.254/latest",
      "https://[fe80::1]/x",
      "https://sneaky.shop.example/x",
    ]) {
      const res = await register(app.url, { url });
      expect({ url, ...res }).toEqual({ url, status: 400, body: { message: "Invalid webhook URL" } });
    }
    // The name that resolves to a private address was refused because of its answer, not its looks.
    expect(asked).toContain("sneaky.shop.example");
    expect((await restGet(app.url, "/webhook-endpoints")).body.endpoints).toEqual([]);

    const accepted = await register(app.url, { url: "https://hooks.shop.example/x", events: ["payment.paid"] });
    expect(accepted.status).toBe(201);
    expect(accepted.body.endpoint.url).toBe("https://hooks.shop.example/x");
    expect(accepted.body.secret).toMatch(/^whsec_/);
  });

  test("DNS rebinding: public at registration, loopback at delivery → refused, no request made", async () => {
    const receiver = startReceiver();
    stops.push(receiver.stop);
    let answer = "93.184.215.14";
    const app = productionApp(async (host) => (host === "rebind.shop.example" ? [answer] : []));
    // The receiver's port on the rebinding name: were the address not checked again, this is where it would go.
    const port = new URL(receiver.url).port;
    const created = await register(app.url, { url: `https://rebind.shop.example:${port}/hook` });
    expect(created.status).toBe(201);
    answer = "127.0.0.1";

    expect((await restCreate(app.url, 5)).status).toBe(200);
    await app.webhooks.drain();
    await app.webhooks.idle();
    const [delivery] = (await restGet(app.url, `/webhook-endpoints/${created.body.endpoint.id}/deliveries`)).body
      .deliveries;
    expect(delivery).toMatchObject({ event_type: "payment.created", status: "pending", attempts: 1 });
    expect(delivery.last_status_code).toBeNull();
    expect(delivery.last_error).toStartWith("Refused:");
    expect(delivery.last_error).toContain("127.0.0.1");
    expect(receiver.received).toHaveLength(0);
  });

  test("WEBHOOK_ALLOW_PRIVATE_URLS=true in production: a loopback http receiver is accepted and delivered to", async () => {
    const receiver = startReceiver();
    stops.push(receiver.stop);
    const app = productionApp(async () => [], { WEBHOOK_ALLOW_PRIVATE_URLS: "true" });
    const created = await register(app.url, { url: receiver.url, events: ["payment.created"] });
    expect(created.status).toBe(201);
    const payment = (await restCreate(app.url, 9)).body.payment;
    await app.webhooks.drain();
    await app.webhooks.idle();
    await receiver.waitFor(1, 5000);
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]!.json.data.payment.id).toBe(payment.id);
    const [delivery] = (await restGet(app.url, `/webhook-endpoints/${created.body.endpoint.id}/deliveries`)).body
      .deliveries;
    expect(delivery).toMatchObject({ status: "delivered", attempts: 1, last_status_code: 200 });
  });
});

describe("WEBHOOK_* configuration", () => {
  const base = { API_KEYS: TEST_API_KEY, WEBHOOK_SECRET: TEST_WEBHOOK_SECRET };
  // Bad values of each WEBHOOK_* variable are in test/config.test.ts's table of refusals.

  test("good values are taken: the schedule in ms, 20 entries at most, the flag, the retention", () => {
    const c = loadConfig({
      ...base,
      WEBHOOK_RETRY_SCHEDULE: "0, 1,30",
      WEBHOOK_ALLOW_PRIVATE_URLS: "false",
      WEBHOOK_RETENTION_DAYS: "2",
    }).merchantWebhooks;
    expect(c.retryScheduleMs).toEqual([0, 1000, 30_000]);
    expect(c.allowPrivateUrls).toBe(false);
    expect(c.retentionMs).toBe(2 * 24 * 60 * 60 * 1000);
    const twenty = Array.from({ length: 20 }, () => "1").join(",");
    expect(loadConfig({ ...base, WEBHOOK_RETRY_SCHEDULE: twenty }).merchantWebhooks.retryScheduleMs).toHaveLength(20);
  });

  test.each([
    ["WEBHOOK_RETRY_SCHEDULE", "5,-1"],
    ["WEBHOOK_ALLOW_PRIVATE_URLS", "yes"],
  ])("the server process does not start with a bad %s (%p): exit 1, the variable named", async (name, value) => {
    const tmp = tempDir();
    stops.push(tmp.cleanup);
    const proc = Bun.spawn([BUN, join(ROOT, "src/index.ts")], {
      cwd: tmp.dir,
      env: { PATH: process.env.PATH ?? "", PORT: "0", NODE_ENV: "test", ...base, [name]: value },
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
    const code = await proc.exited;
    clearTimeout(timer);
    const out = (await new Response(proc.stdout).text()) + (await new Response(proc.stderr).text());
    expect(code).toBe(1);
    expect(out).toContain(name);
    expect(out).not.toContain("listening");
  });
});
