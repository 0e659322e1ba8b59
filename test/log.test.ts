import { describe, expect, test } from "bun:test";
import { createLogger, createRequestLog } from "../src/log.ts";
import {
  manualClock,
  merchantHeaders,
  restConfirm,
  signWebhook,
  startTestApp,
  TEST_API_KEY,
  TEST_WEBHOOK_SECRET,
} from "./harness.ts";

function capture() {
  const lines: string[] = [];
  return { lines, stream: { write: (s: string) => void lines.push(s) } };
}

describe("request log line", () => {
  const cases = [
    {
      method: "GET",
      route: "/payments/{id}",
      status: 200,
      durationMs: 0.05,
      requestId: "5da98850-6d5c-4956-aac4-76503f09edef",
    },
    { method: "POST", route: "/payments", status: 413, durationMs: 12.34, requestId: "req-abc-123" },
    // Routes are templates, but the line makes any string valid JSON: quotes, backslashes, control characters.
    { method: "PATCH", route: '/x"y\\z\n\u0001', status: 405, durationMs: 1, requestId: "a:b.c_d" },
  ];

  test('is the same JSON pino writes for logger.info(fields, "request")', () => {
    const ours = capture();
    const theirs = capture();
    const log = createRequestLog(createLogger("info", ours.stream));
    const pinoLogger = createLogger("info", theirs.stream);
    for (const c of cases) {
      log(c);
      pinoLogger.info(
        { method: c.method, route: c.route, status: c.status, duration_ms: c.durationMs, request_id: c.requestId },
        "request",
      );
    }
    expect(ours.lines.length).toBe(cases.length);
    const withoutTime = (line: string) => line.replace(/"time":\d+,/, '"time":0,');
    expect(ours.lines.map(withoutTime)).toEqual(theirs.lines.map(withoutTime));
    for (const line of ours.lines) expect(line.endsWith("}\n")).toBe(true);
  });

  test("follows the logger's level", () => {
    const out = capture();
    createRequestLog(createLogger("warn", out.stream))(cases[0]!);
    expect(out.lines).toEqual([]);
  });
});

describe("domain events", () => {
  test("created, paid and expired are JSON lines of their own with the ids, once per change, with no secret", async () => {
    const log = capture();
    const clock = manualClock();
    const app = startTestApp({ clock, logger: createLogger("info", log.stream) });
    try {
      const create = (key: string) =>
        fetch(`${app.url}/payments`, {
          method: "POST",
          headers: merchantHeaders(TEST_API_KEY, { "idempotency-key": key }),
          body: JSON.stringify({ value: 10, metadata: { customer_email: "payer@example.com" } }),
        }).then((r) => r.json() as Promise<any>);
      const paid = (await create("k1")).payment;
      expect((await create("k1")).payment.id).toBe(paid.id); // an idempotent repeat creates nothing
      const expiring = (await create("k2")).payment;
      const body = JSON.stringify({ bank_payment_id: paid.bank_payment_id, value: 10 });
      const signed = signWebhook(body);
      for (let i = 0; i < 2; i++) {
        const r = await fetch(`${app.url}/payments/pix/confirmation`, { method: "POST", headers: signed, body });
        expect(r.status).toBe(200); // the second is a replay: it changes nothing
      }
      expect((await restConfirm(app.url, { bank_payment_id: paid.bank_payment_id, value: 10 })).status).toBe(200);
      clock.advance(1800_000 + 1);
      expect((await app.service.expireDue()).length).toBe(1);
      expect((await app.service.expireDue()).length).toBe(0);

      const lines = log.lines.map((l) => JSON.parse(l));
      const events = lines.filter((l) => "event" in l);
      expect(events.map(({ time: _t, ...rest }) => rest)).toEqual([
        {
          level: 30,
          event: "payment.created",
          payment_id: paid.id,
          bank_payment_id: paid.bank_payment_id,
          msg: "payment created",
        },
        {
          level: 30,
          event: "payment.created",
          payment_id: expiring.id,
          bank_payment_id: expiring.bank_payment_id,
          msg: "payment created",
        },
        {
          level: 30,
          event: "payment.paid",
          payment_id: paid.id,
          bank_payment_id: paid.bank_payment_id,
          msg: "payment paid",
        },
        {
          level: 30,
          event: "payment.expired",
          payment_id: expiring.id,
          bank_payment_id: expiring.bank_payment_id,
          msg: "payment expired",
        },
      ]);
      const all = log.lines.join("");
      for (const secret of [TEST_API_KEY, TEST_WEBHOOK_SECRET, signed["webhook-signature"]!, "payer@example.com"]) {
        expect(all).not.toContain(secret);
      }
    } finally {
      await app.stop();
    }
  });
});
