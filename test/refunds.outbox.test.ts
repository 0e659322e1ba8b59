/**
 * The refund outbox (CONTRACT §11): a refund that could not be sent is retried with back-off, always with the
 * same devolução id, so it is never made twice; a send an instance claimed and never finished (it died) is
 * taken over by another once its lease runs out; a devolução the PSP accepted but never called back about is
 * asked about later. Time is a manual clock; the outbox is driven with `refunds.drain()`.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { startPspSimulator } from "../scripts/bank-psp.ts";
import { REFUND_LEASE_MS } from "../src/payments/refunds.ts";
import { manualClock, restGet, restRefund, startTestApp, TEST_WEBHOOK_SECRET, waitUntil } from "./harness.ts";
import { paidThroughPsp, pspEnv, requestsTo, startAppWithPsp } from "./psp.ts";

const stops: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

function setUp() {
  const clock = manualClock();
  const env = startAppWithPsp({ clock });
  stops.push(env.stop);
  return { clock, ...env };
}

const putsTo = (psp: { requests: any[] }, since = 0) =>
  requestsTo(psp as any, "/pix/", since)
    .filter((r) => r.method === "PUT")
    .map((r) => r.path);
const outboxRow = async (app: { query: (sql: string, ...p: unknown[]) => Promise<any[]> }, refundId: string) =>
  (
    await app.query(
      "SELECT phase, attempts, next_attempt_at, lease_until, lease_token, last_error FROM refund_outbox WHERE refund_id = ?",
      refundId,
    )
  )[0];

describe("sending refunds to the PSP", () => {
  test("503, 503, then 201: retried after 5 s and 10 s, every time with the same devolução id", async () => {
    const { clock, app, psp } = setUp();
    const { payment, pix } = await paidThroughPsp(app, psp, 100);
    let failures = 2;
    psp.intercept = (req) =>
      req.method === "PUT" && failures-- > 0 ? new Response("unavailable", { status: 503 }) : undefined;
    const since = psp.requests.length;
    const refund = (await restRefund(app.url, payment.id, { value: 30 })).body.refund;
    await app.refunds.drain();
    expect(await outboxRow(app, refund.id)).toMatchObject({
      phase: "send",
      attempts: 1,
      next_attempt_at: clock.now() + 5000,
      lease_until: 0,
      lease_token: null,
      last_error: expect.stringContaining("503"),
    });
    await app.refunds.drain(); // not due yet: nothing sent
    expect(putsTo(psp, since)).toHaveLength(1);

    clock.advance(5000);
    await app.refunds.drain();
    expect(await outboxRow(app, refund.id)).toMatchObject({ attempts: 2, next_attempt_at: clock.now() + 10_000 });
    clock.advance(10_000);
    await app.refunds.drain();
    const path = `/pix/${pix.endToEndId}/devolucao/${refund.id}`;
    expect(putsTo(psp, since)).toEqual([path, path, path]);
    expect(await outboxRow(app, refund.id)).toMatchObject({ phase: "check", attempts: 0, last_error: null });
    expect(psp.pix.get(pix.endToEndId)!.devolucoes!.map((d) => d.id)).toEqual([refund.id]);

    await psp.settleAll();
    expect((await restGet(app.url, `/payments/${payment.id}`)).body.payment.refunded_value).toBe(30);
    expect(await outboxRow(app, refund.id)).toBeUndefined();
  });

  test("a PSP that cannot be reached at all is retried the same way, and sent to once it is back", async () => {
    const { clock, app, psp } = setUp();
    const { payment, pix } = await paidThroughPsp(app, psp, 20);
    const port = psp.port;
    await psp.stop(); // connection refused from now on
    const refund = (await restRefund(app.url, payment.id, { value: 20 })).body.refund;
    await app.refunds.drain();
    expect(await outboxRow(app, refund.id)).toMatchObject({ phase: "send", attempts: 1 });
    expect((await outboxRow(app, refund.id)).last_error).toMatch(/PUT \/pix\/\w+\/devolucao\/rf\w+|oauth/);

    const back = startPspSimulator({ port, webhookSecret: TEST_WEBHOOK_SECRET, settleDelayMs: 3_600_000 });
    stops.push(() => back.stop());
    back.webhookUrl = `${app.url}/webhooks`;
    back.registerPix(pix);
    clock.advance(5000);
    await app.refunds.drain();
    // The new PSP process does not know the old token: one 401, a new token, the same PUT again.
    expect(putsTo(back)).toEqual(Array(2).fill(`/pix/${pix.endToEndId}/devolucao/${refund.id}`));
    expect(back.pix.get(pix.endToEndId)!.devolucoes!.map((d) => d.id)).toEqual([refund.id]);
    await back.settleAll();
    expect((await restGet(app.url, `/payments/${payment.id}/refunds`)).body.refunds[0].status).toBe("refunded");
  });

  test("a PSP that refuses the devolução (400) fails the refund with its reason and gives the amount back", async () => {
    const { app, psp } = setUp();
    const { payment } = await paidThroughPsp(app, psp, 50);
    psp.intercept = (req) =>
      req.method === "PUT"
        ? Response.json(
            { title: "Devolução inválida", detail: "O Pix já foi devolvido por outro canal.", status: 400 },
            { status: 400 },
          )
        : undefined;
    const refund = (await restRefund(app.url, payment.id, { value: 50 })).body.refund;
    await app.refunds.drain();
    expect((await restGet(app.url, `/payments/${payment.id}/refunds`)).body.refunds).toEqual([
      {
        ...refund,
        status: "failed",
        failure_reason: "Refused by the PSP: Devolução inválida: O Pix já foi devolvido por outro canal.",
      },
    ]);
    expect(await outboxRow(app, refund.id)).toBeUndefined();
    psp.intercept = undefined;
    expect((await restRefund(app.url, payment.id, { value: 50 })).status).toBe(201);
  });

  test("a PUT refused because the PSP already made that devolução (an answer lost earlier) is checked, not failed", async () => {
    const { clock, app, psp } = setUp();
    const { payment, pix } = await paidThroughPsp(app, psp, 50);
    let first = true;
    psp.intercept = (req) => {
      if (req.method !== "PUT" || !first) return undefined;
      first = false;
      return new Response("gateway timeout", { status: 504 });
    };
    const refund = (await restRefund(app.url, payment.id, { value: 10 })).body.refund;
    await app.refunds.drain();
    // The PSP did take it, though: now it refuses the same PUT again (as some PSPs do, with 409).
    psp.pix.get(pix.endToEndId)!.devolucoes = [
      {
        id: refund.id,
        rtrId: "D99999999202601010000abcdefghijk",
        valor: "10.00",
        horario: { solicitacao: new Date().toISOString() },
        status: "EM_PROCESSAMENTO",
      },
    ];
    psp.intercept = (req) => (req.method === "PUT" ? Response.json({ title: "Conflito" }, { status: 409 }) : undefined);
    clock.advance(5000);
    await app.refunds.drain();
    expect(await outboxRow(app, refund.id)).toMatchObject({ phase: "check" });
    expect((await restGet(app.url, `/payments/${payment.id}/refunds`)).body.refunds[0].status).toBe("pending");
  });

  test("a devolução accepted but never called back about is asked about (GET) later, and settled from that", async () => {
    const { clock, app, psp } = setUp();
    psp.callbacks = false;
    const { payment, pix } = await paidThroughPsp(app, psp, 30);
    const refund = (await restRefund(app.url, payment.id, { value: 30 })).body.refund;
    await app.refunds.drain();
    expect(await outboxRow(app, refund.id)).toMatchObject({ phase: "check", next_attempt_at: clock.now() + 30_000 });
    const since = psp.requests.length;
    clock.advance(30_000);
    await app.refunds.drain(); // still EM_PROCESSAMENTO at the PSP
    expect(requestsTo(psp, "/pix/", since).map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /pix/${pix.endToEndId}/devolucao/${refund.id}`,
    ]);
    expect(await outboxRow(app, refund.id)).toMatchObject({ phase: "check", next_attempt_at: clock.now() + 60_000 });

    await psp.settleAll(); // settled at the PSP; the callback is lost (callbacks off)
    clock.advance(60_000);
    await app.refunds.drain();
    expect((await restGet(app.url, `/payments/${payment.id}/refunds`)).body.refunds[0]).toMatchObject({
      status: "refunded",
    });
    expect((await restGet(app.url, `/payments/${payment.id}`)).body.payment.refunded_value).toBe(30);
    expect(await outboxRow(app, refund.id)).toBeUndefined();
  });
});

describe("two instances on one database", () => {
  test("a send claimed by an instance that never finished is taken over after the lease, with the same id", async () => {
    const clockA = manualClock();
    const clockB = manualClock();
    const a = startAppWithPsp({ clock: clockA });
    stops.push(a.stop);
    const { psp } = a;
    const b = startTestApp({ clock: clockB, databaseUrl: a.app.databaseUrl, env: pspEnv(psp) });
    stops.push(b.stop);
    const { payment, pix } = await paidThroughPsp(a.app, psp, 80);

    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = false;
    psp.intercept = async (req) => {
      if (req.method !== "PUT" || held) return undefined;
      held = true;
      await released; // A's PUT hangs: A has claimed the send and is stuck in it
      return undefined;
    };
    const since = psp.requests.length;
    const refund = (await restRefund(a.app.url, payment.id, { value: 80 })).body.refund;
    await waitUntil(() => putsTo(psp, since).length === 1, 5000, "A's PUT");

    await b.refunds.drain();
    expect(putsTo(psp, since)).toHaveLength(1); // leased by A: B leaves it alone
    clockB.advance(REFUND_LEASE_MS);
    await b.refunds.drain();
    const path = `/pix/${pix.endToEndId}/devolucao/${refund.id}`;
    expect(putsTo(psp, since)).toEqual([path, path]);
    expect(await outboxRow(b, refund.id)).toMatchObject({ phase: "check", lease_token: null });

    release(); // A's PUT finally answers; its lease is gone, so what it records changes nothing
    await a.app.refunds.drain();
    expect(await outboxRow(b, refund.id)).toMatchObject({ phase: "check", lease_token: null });
    expect(psp.pix.get(pix.endToEndId)!.devolucoes!.map((d) => d.id)).toEqual([refund.id]);
    await psp.settleAll();
    expect((await restGet(b.url, `/payments/${payment.id}`)).body.payment.refunded_value).toBe(80);
  });
});
