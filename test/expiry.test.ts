import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  merchantHeaders,
  recordAnnouncements,
  restConfirm,
  restCreate,
  startTestApp,
  type TestApp,
} from "./harness.ts";

let app: TestApp;
beforeAll(() => {
  app = startTestApp({ env: { PAYMENT_TTL_SECONDS: "600" } });
});
afterAll(() => app.stop());

const TTL = 600_000;
const read = async (id: number) =>
  ((await (await fetch(`${app.url}/payments/${id}`, { headers: merchantHeaders() })).json()) as any).payment;

describe("expiry with an injected clock", () => {
  test("PAYMENT_TTL_SECONDS sets expiration_date", async () => {
    const p = (await restCreate(app.url, 1)).body.payment;
    expect(Date.parse(p.expiration_date) - Date.parse(p.created_at)).toBe(TTL);
  });

  test("pending until the last millisecond, expired from its expiry on, before any sweep", async () => {
    const p = (await restCreate(app.url, 1)).body.payment;
    app.clock.advance(TTL - 1);
    expect((await read(p.id)).status).toBe("pending");
    app.clock.advance(1);
    expect(await read(p.id)).toMatchObject({ status: "expired", paid: false });
    app.clock.advance(-TTL);
  });

  test("an expired payment cannot be confirmed (409) and is listed as expired, not pending", async () => {
    const p = (await restCreate(app.url, 2)).body.payment;
    app.clock.advance(TTL);
    try {
      expect((await restConfirm(app.url, { bank_payment_id: p.bank_payment_id, value: 2 })).status).toBe(409);
      const expired = (await (
        await fetch(`${app.url}/payments?status=expired`, { headers: merchantHeaders() })
      ).json()) as any;
      expect(expired.payments.map((x: any) => x.id)).toContain(p.id);
      const pending = (await (
        await fetch(`${app.url}/payments?status=pending`, { headers: merchantHeaders() })
      ).json()) as any;
      expect(pending.payments.map((x: any) => x.id)).not.toContain(p.id);
    } finally {
      app.clock.advance(-TTL);
    }
  });

  test("the sweep marks due payments expired exactly once and announces each once; paid ones stay paid", async () => {
    const due = (await restCreate(app.url, 3)).body.payment;
    const paid = (await restCreate(app.url, 4)).body.payment;
    await restConfirm(app.url, { bank_payment_id: paid.bank_payment_id, value: 4 });
    const recorder = recordAnnouncements(app);
    const off = recorder.off;
    app.clock.advance(TTL);
    try {
      const first = await app.service.expireDue();
      expect(first.map((p) => p.id)).toContain(due.id);
      expect(first.map((p) => p.id)).not.toContain(paid.id);
      expect(await app.service.expireDue()).toEqual([]);
      const announced = (await recorder.settled()).map((p) => ({ id: p.id, status: p.status }));
      expect(announced.filter((a) => a.id === due.id)).toEqual([{ id: due.id, status: "expired" }]);
      expect((await read(paid.id)).status).toBe("paid");
      const [events] = await app.query(
        "SELECT COUNT(*) AS n FROM payment_events WHERE payment_id = ? AND type = 'expired'",
        due.id,
      );
      expect(events).toEqual({ n: 1 });
    } finally {
      off();
      app.clock.advance(-TTL);
    }
  });

  test("a payment confirmed just before its expiry stays paid after it", async () => {
    const p = (await restCreate(app.url, 5)).body.payment;
    app.clock.advance(TTL - 1);
    expect((await restConfirm(app.url, { bank_payment_id: p.bank_payment_id, value: 5 })).status).toBe(200);
    app.clock.advance(10 * TTL);
    await app.service.expireDue();
    expect((await read(p.id)).status).toBe("paid");
    app.clock.advance(-11 * TTL + 1);
  });
});
