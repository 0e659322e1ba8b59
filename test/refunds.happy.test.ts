/**
 * Refunds (CONTRACT §11): POST /payments/{id}/refunds answers 201 with a pending refund, which is sent to the
 * PSP as `PUT /pix/{e2eid}/devolucao/{id}` with an OAuth2 token, and becomes refunded or failed from the PUT's
 * answer or the PSP's later `devolucoes[]` callback. The payment stays paid; refunded_value counts settled
 * refunds; watchers are told.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createPaymentClient, createPaymentWatchClient } from "../client/index.ts";
import {
  createPaidPayment,
  manualClock,
  merchantHeaders,
  openSocket,
  restGet,
  restRefund,
  startTestApp,
  TEST_API_KEY,
  waitUntil,
  wsUrl,
} from "./harness.ts";
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, paidThroughPsp, requestsTo, startAppWithPsp } from "./psp.ts";

const clock = manualClock();
const env = startAppWithPsp({ clock });
const { app, psp } = env;
afterEach(() => {
  psp.intercept = undefined;
  psp.putAnswer = "EM_PROCESSAMENTO";
  psp.refundOutcome = "DEVOLVIDO";
  psp.callbacks = true;
});
afterAll(() => env.stop());

const refundsOf = async (paymentId: number) => (await restGet(app.url, `/payments/${paymentId}/refunds`)).body.refunds;
const paymentOf = async (paymentId: number) => (await restGet(app.url, `/payments/${paymentId}`)).body.payment;

describe("a refund through the API Pix", () => {
  test("201 pending; the token and the PUT go out in the API Pix shapes; the callback makes it refunded", async () => {
    const { payment, pix } = await paidThroughPsp(app, psp, 100);
    const since = psp.requests.length;
    const created = await restRefund(app.url, payment.id, { value: 30, reason: "Produto devolvido" });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      message: "The refund has been requested",
      refund: {
        id: expect.stringMatching(/^rf[a-zA-Z0-9]{1,33}$/),
        payment_id: payment.id,
        value: 30,
        reason: "Produto devolvido",
        status: "pending",
        failure_reason: null,
        created_at: new Date(clock.now()).toISOString(),
        refunded_at: null,
      },
    });
    const refund = created.body.refund;
    await app.refunds.drain();

    const puts = requestsTo(psp, "/pix/", since).filter((r) => r.method === "PUT");
    expect(puts.map((r) => r.path)).toEqual([`/pix/${pix.endToEndId}/devolucao/${refund.id}`]);
    expect(puts[0]!.headers["content-type"]).toBe("application/json");
    expect(puts[0]!.headers.authorization).toMatch(/^Bearer [0-9a-f]{32}$/);
    expect(puts[0]!.body).toBe('{"valor":"30.00","natureza":"ORIGINAL","descricao":"Produto devolvido"}');
    const tokens = requestsTo(psp, "/oauth/token");
    expect(tokens.length).toBe(1); // the one token of this app so far, fetched for the confirming GET
    expect(tokens[0]!).toMatchObject({ method: "POST", body: "grant_type=client_credentials" });
    expect(tokens[0]!.headers.authorization).toBe(
      `Basic ${Buffer.from(`${DEFAULT_CLIENT_ID}:${DEFAULT_CLIENT_SECRET}`).toString("base64")}`,
    );
    expect(tokens[0]!.headers["content-type"]).toBe("application/x-www-form-urlencoded");

    // EM_PROCESSAMENTO: still pending, nothing counted yet.
    expect((await refundsOf(payment.id))[0]).toMatchObject({ id: refund.id, status: "pending" });
    expect((await paymentOf(payment.id)).refunded_value).toBe(0);

    const socket = await openSocket(wsUrl(app.url, `/ws?bank_payment_id=${payment.bank_payment_id}`));
    await socket.next((m) => m.payment?.refunded_value === 0);
    clock.advance(5000);
    try {
      await psp.settleAll(); // the PSP's callback, {"pix": [{…, "devolucoes": [{…, "status": "DEVOLVIDO"}]}]}
    } finally {
      clock.advance(-5000);
    }
    expect(psp.callbacksMade.at(-1)!.status).toBe(200);
    const told = await socket.next((m) => m.payment?.refunded_value === 30);
    expect(told.payment).toMatchObject({ status: "paid", paid: true, refunded_value: 30 });
    socket.close();
    expect(await refundsOf(payment.id)).toEqual([
      { ...refund, status: "refunded", refunded_at: new Date(clock.now() + 5000).toISOString() },
    ]);
    expect(await paymentOf(payment.id)).toMatchObject({ status: "paid", refunded_value: 30 });
    expect((await restGet(app.url, `/pix/${pix.endToEndId}`)).body.pix.refunded_value).toBe(30);
  });

  test("several partial refunds up to the whole value; a refund without a reason sends no descricao", async () => {
    const { payment } = await paidThroughPsp(app, psp, 10);
    const since = psp.requests.length;
    const first = await restRefund(app.url, payment.id, { value: 2.5 });
    const second = await restRefund(app.url, payment.id, { value: 7.5, reason: null });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect((await restRefund(app.url, payment.id, { value: 0.01 })).body.message).toBe(
      "Refund exceeds the refundable amount",
    );
    await app.refunds.drain();
    const bodies = requestsTo(psp, "/pix/", since)
      .filter((r) => r.method === "PUT")
      .map((r) => JSON.parse(r.body));
    expect(bodies.sort((a, b) => a.valor.localeCompare(b.valor))).toEqual([
      { valor: "2.50", natureza: "ORIGINAL" },
      { valor: "7.50", natureza: "ORIGINAL" },
    ]);
    await psp.settleAll();
    expect(await paymentOf(payment.id)).toMatchObject({ status: "paid", value: 10, refunded_value: 10 });
    expect((await refundsOf(payment.id)).map((r: any) => [r.id, r.status])).toEqual([
      [second.body.refund.id, "refunded"],
      [first.body.refund.id, "refunded"],
    ]);
  });

  test("NAO_REALIZADO in the callback fails the refund with the PSP's motivo and gives its amount back", async () => {
    const { payment } = await paidThroughPsp(app, psp, 40);
    psp.refundOutcome = "NAO_REALIZADO";
    const refund = (await restRefund(app.url, payment.id, { value: 40 })).body.refund;
    await app.refunds.drain();
    await psp.settleAll();
    expect(await refundsOf(payment.id)).toEqual([
      { ...refund, status: "failed", failure_reason: "Conta do pagador encerrada", refunded_at: null },
    ]);
    expect((await paymentOf(payment.id)).refunded_value).toBe(0);
    psp.refundOutcome = "DEVOLVIDO";
    expect((await restRefund(app.url, payment.id, { value: 40 })).status).toBe(201);
  });

  test("a PUT that answers DEVOLVIDO or NAO_REALIZADO at once settles the refund without a callback", async () => {
    psp.putAnswer = "FINAL";
    psp.callbacks = false;
    const { payment } = await paidThroughPsp(app, psp, 50);
    const done = (await restRefund(app.url, payment.id, { value: 20 })).body.refund;
    await app.refunds.drain();
    psp.refundOutcome = "NAO_REALIZADO";
    const refused = (await restRefund(app.url, payment.id, { value: 30 })).body.refund;
    await app.refunds.drain();
    const byId = Object.fromEntries((await refundsOf(payment.id)).map((r: any) => [r.id, r]));
    expect(byId[done.id]).toMatchObject({ status: "refunded", refunded_at: expect.any(String) });
    expect(byId[refused.id]).toMatchObject({ status: "failed", failure_reason: "Conta do pagador encerrada" });
    expect(await paymentOf(payment.id)).toMatchObject({ refunded_value: 20 });
    const [outbox] = await app.query(
      "SELECT COUNT(*) AS n FROM refund_outbox WHERE refund_id IN (?, ?)",
      done.id,
      refused.id,
    );
    expect(outbox).toEqual({ n: 0 });
  });

  test("the same Idempotency-Key and body answer the first 201 again and send nothing; another body is 422", async () => {
    const { payment } = await paidThroughPsp(app, psp, 60);
    const headers = merchantHeaders(TEST_API_KEY, { "idempotency-key": `refund-${payment.id}` });
    const since = psp.requests.length;
    const first = await restRefund(app.url, payment.id, { value: 10, reason: "troca" }, headers);
    await app.refunds.drain();
    const again = await Promise.all(
      [1, 2, 3].map(() => restRefund(app.url, payment.id, { value: 10, reason: "troca" }, headers)),
    );
    await app.refunds.drain();
    expect(first.status).toBe(201);
    for (const r of again) expect(r).toEqual(first);
    expect(requestsTo(psp, "/pix/", since).filter((r) => r.method === "PUT").length).toBe(1);
    expect(await refundsOf(payment.id)).toHaveLength(1);
    expect(await restRefund(app.url, payment.id, { value: 11, reason: "troca" }, headers)).toEqual({
      status: 422,
      body: { message: "Idempotency key reused with different parameters" },
    });
    expect(await restRefund(app.url, payment.id, { value: 10 }, headers)).toMatchObject({ status: 422 });
  });

  test("the token is kept until it expires, fetched again after, and once on a 401", async () => {
    const { payment } = await paidThroughPsp(app, psp, 30);
    const tokensBefore = psp.tokensIssued();
    await restRefund(app.url, payment.id, { value: 1 });
    await app.refunds.drain();
    await restRefund(app.url, payment.id, { value: 1 });
    await app.refunds.drain();
    expect(psp.tokensIssued()).toBe(tokensBefore); // cached

    clock.advance(3600_000); // the simulator's tokens say expires_in 3600
    try {
      await restRefund(app.url, payment.id, { value: 1 });
      await app.refunds.drain();
      expect(psp.tokensIssued()).toBe(tokensBefore + 1);

      psp.revokeTokens(); // the PSP drops it early: the next call answers 401
      const since = psp.requests.length;
      const refund = (await restRefund(app.url, payment.id, { value: 1 })).body.refund;
      await app.refunds.drain();
      expect(psp.tokensIssued()).toBe(tokensBefore + 2);
      const calls = psp.requests.slice(since).map((r) => `${r.method} ${r.path.replace(/\/pix\/\w+/, "/pix/…")}`);
      expect(calls).toEqual([
        `PUT /pix/…/devolucao/${refund.id}`,
        "POST /oauth/token",
        `PUT /pix/…/devolucao/${refund.id}`,
      ]);
      expect((await refundsOf(payment.id)).filter((r: any) => r.status === "pending")).toHaveLength(4);
    } finally {
      clock.advance(-3600_000);
    }
  });

  test("a PSP that keeps answering 401 to a new token is unavailable, not a refusal: the refund stays pending", async () => {
    const { payment } = await paidThroughPsp(app, psp, 5);
    psp.intercept = (req, url) =>
      url.pathname.includes("/devolucao/") && req.method === "PUT"
        ? Response.json({ title: "AcessoNegado" }, { status: 401 })
        : undefined;
    const refund = (await restRefund(app.url, payment.id, { value: 5 })).body.refund;
    await app.refunds.drain();
    expect((await refundsOf(payment.id))[0]).toMatchObject({ id: refund.id, status: "pending" });
    const [row] = await app.query(
      "SELECT phase, attempts, last_error FROM refund_outbox WHERE refund_id = ?",
      refund.id,
    );
    expect(row).toMatchObject({ phase: "send", attempts: 1, last_error: expect.stringContaining("401") });
  });

  test("a tRPC payments.watch subscriber gets the refunded state too, with a newer event id", async () => {
    const { payment } = await paidThroughPsp(app, psp, 18);
    const client = createPaymentWatchClient({ url: app.url, transport: "sse" });
    const events: Array<{ id: string; data: any }> = [];
    const sub = client.payments.watch.subscribe(
      { bank_payment_id: payment.bank_payment_id },
      { onData: (e) => events.push(e as any) },
    );
    try {
      await waitUntil(() => events.length >= 1, 5000, "the snapshot");
      await restRefund(app.url, payment.id, { value: 18 });
      await app.refunds.drain();
      await psp.settleAll();
      await waitUntil(() => events.some((e) => e.data.refunded_value === 18), 5000, "the refunded state");
      const last = events.at(-1)!;
      expect(last.data).toMatchObject({ status: "paid", refunded_value: 18 });
      expect(Number(last.id)).toBeGreaterThan(Number(events[0]!.id));
    } finally {
      sub.unsubscribe();
      client.close();
    }
  });

  test("tRPC refunds.create and refunds.list answer the same JSON as REST", async () => {
    const { payment } = await paidThroughPsp(app, psp, 9);
    const client = createPaymentClient({ url: app.url, apiKey: TEST_API_KEY, batch: false });
    const created = await client.refunds.create.mutate({ payment_id: payment.id, value: 4, reason: "via tRPC" });
    expect(created).toMatchObject({
      message: "The refund has been requested",
      refund: { value: 4, status: "pending" },
    });
    expect(await client.refunds.list.query({ payment_id: payment.id })).toEqual({
      refunds: await refundsOf(payment.id),
    });
    await expect(client.refunds.create.mutate({ payment_id: payment.id, value: 6 })).rejects.toThrow(
      "Refund exceeds the refundable amount",
    );
  });
});

describe("the simulated PSP (PSP_API_URL unset, outside production)", () => {
  let local: ReturnType<typeof startTestApp>;
  beforeAll(() => {
    local = startTestApp({ simulatedPspSettleMs: 20 });
  });
  afterAll(() => local.stop());

  test("refunds a payment confirmed through §4 too, and settles it after a short delay", async () => {
    const payment = await createPaidPayment(local.url, 25, "confirmation");
    expect(payment.end_to_end_id).toBeNull();
    const created = await restRefund(local.url, payment.id, { value: 25 });
    expect(created).toMatchObject({ status: 201, body: { refund: { status: "pending" } } });
    await waitUntil(
      async () => (await restGet(local.url, `/payments/${payment.id}`)).body.payment.refunded_value === 25,
      5000,
      "the simulated refund",
    );
    expect((await restGet(local.url, `/payments/${payment.id}/refunds`)).body.refunds[0]).toMatchObject({
      status: "refunded",
      refunded_at: expect.any(String),
    });
  });
});
