/**
 * Received Pix (CONTRACT §11): the PSP's `{"pix": [...]}` callback pays a payment by txid and amount, once per
 * endToEndId; every Pix lands in the ledger, matched or not, with its reason. With PSP_API_URL set each Pix is
 * confirmed with the PSP (GET /pix/{e2eid}) before it is applied.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { startPspSimulator } from "../scripts/bank-psp.ts";
import {
  manualClock,
  merchantHeaders,
  openSocket,
  pixFor,
  recordAnnouncements,
  restConfirm,
  restCreate,
  restGet,
  sendPixCallback,
  startTestApp,
  type TestApp,
  wsUrl,
} from "./harness.ts";

describe("POST /webhooks/pix (no PSP_API_URL: the callback is applied as sent)", () => {
  const clock = manualClock();
  let app: TestApp;
  beforeAll(() => {
    app = startTestApp({ clock });
  });
  afterAll(() => app.stop());

  test("a Pix with the payment's txid and valor pays it: 200 Received, paid, end_to_end_id set, watchers told", async () => {
    const payment = (await restCreate(app.url, 254.3)).body.payment;
    const socket = await openSocket(wsUrl(app.url, `/ws?bank_payment_id=${payment.bank_payment_id}`));
    await socket.next((m) => m.payment?.status === "pending");
    const pix = pixFor(payment, { infoPagador: "Pedido 1234" });
    expect(pix.valor).toBe("254.30");

    const answer = await sendPixCallback(app.url, { pix: [pix] });
    expect(answer).toEqual({ status: 200, body: { message: "Received" } });

    const read = (await restGet(app.url, `/payments/${payment.id}`)).body.payment;
    expect(read).toMatchObject({ status: "paid", paid: true, end_to_end_id: pix.endToEndId, refunded_value: 0 });
    expect(read.paid_at).toBe(new Date(clock.now()).toISOString());
    const told = await socket.next((m) => m.payment?.status === "paid");
    expect(told.payment.end_to_end_id).toBe(pix.endToEndId);
    socket.close();

    const entry = await restGet(app.url, `/pix/${pix.endToEndId}`);
    expect(entry).toEqual({
      status: 200,
      body: {
        pix: {
          end_to_end_id: pix.endToEndId,
          txid: pix.txid,
          value: 254.3,
          received_at: pix.horario,
          payer_info: "Pedido 1234",
          status: "matched",
          reason: null,
          payment_id: payment.id,
          refunded_value: 0,
        },
      },
    });
    const [events] = await app.query(
      "SELECT COUNT(*) AS n FROM payment_events WHERE payment_id = ? AND type = 'paid'",
      payment.id,
    );
    expect(events).toEqual({ n: 1 });
  });

  test("the same endToEndId sent three times, then ten at once, makes one transition and one ledger entry", async () => {
    const payment = (await restCreate(app.url, 80)).body.payment;
    const announced = recordAnnouncements(app);
    const pix = pixFor(payment);
    for (let i = 0; i < 3; i++) {
      expect((await sendPixCallback(app.url, { pix: [pix] })).status).toBe(200);
    }
    const together = await Promise.all(Array.from({ length: 10 }, () => sendPixCallback(app.url, { pix: [pix] })));
    expect(together.map((r) => r.status)).toEqual(Array(10).fill(200));
    announced.off();
    expect((await announced.settled()).map((p) => p.status)).toEqual(["paid"]);
    const [paid] = await app.query(
      "SELECT COUNT(*) AS n FROM payment_events WHERE payment_id = ? AND type = 'paid'",
      payment.id,
    );
    expect(paid).toEqual({ n: 1 });
    const [entries] = await app.query("SELECT COUNT(*) AS n FROM received_pix WHERE end_to_end_id = ?", pix.endToEndId);
    expect(entries).toEqual({ n: 1 });
  });

  test("each Pix that pays nothing is kept as unmatched with its reason, and the callback still answers 200", async () => {
    const known = (await restCreate(app.url, 50)).body.payment;
    const paidTwice = (await restCreate(app.url, 20)).body.payment;
    const byConfirmation = (await restCreate(app.url, 30)).body.payment;
    const late = (await restCreate(app.url, 40)).body.payment;
    expect((await sendPixCallback(app.url, { pix: [pixFor(paidTwice)] })).status).toBe(200);
    expect((await restConfirm(app.url, { bank_payment_id: byConfirmation.bank_payment_id, value: 30 })).status).toBe(
      200,
    );

    const unknown = pixFor(known, { txid: "0000000000000000000000000" });
    const withoutTxid = pixFor(known, { txid: undefined });
    const wrongAmount = pixFor(known, { valor: "49.99" });
    const second = pixFor(paidTwice);
    const afterConfirmation = pixFor(byConfirmation);
    clock.advance(1800_000); // `late` (and every payment of this test) is past its expiry now
    try {
      const lateOne = pixFor(late);
      const answer = await sendPixCallback(app.url, {
        pix: [unknown, withoutTxid, wrongAmount, second, afterConfirmation, lateOne],
      });
      expect(answer).toEqual({ status: 200, body: { message: "Received" } });
      const reasonOf = async (pix: { endToEndId: string }) =>
        (await restGet(app.url, `/pix/${pix.endToEndId}`)).body.pix;
      expect(await reasonOf(unknown)).toMatchObject({ status: "unmatched", reason: "UNKNOWN_TXID", payment_id: null });
      expect(await reasonOf(withoutTxid)).toMatchObject({ reason: "UNKNOWN_TXID", txid: null });
      expect(await reasonOf(wrongAmount)).toMatchObject({
        status: "unmatched",
        reason: "AMOUNT_MISMATCH",
        payment_id: known.id,
        value: 49.99,
      });
      expect(await reasonOf(second)).toMatchObject({ reason: "DUPLICATE_PAYMENT", payment_id: paidTwice.id });
      expect(await reasonOf(afterConfirmation)).toMatchObject({
        reason: "DUPLICATE_PAYMENT",
        payment_id: byConfirmation.id,
      });
      expect(await reasonOf(lateOne)).toMatchObject({ reason: "PAID_AFTER_EXPIRY", payment_id: late.id });
    } finally {
      clock.advance(-1800_000);
    }
    expect((await restGet(app.url, `/payments/${known.id}`)).body.payment.status).toBe("pending");
    expect((await restGet(app.url, `/payments/${late.id}`)).body.payment.status).toBe("pending");
    expect((await restGet(app.url, `/payments/${paidTwice.id}`)).body.payment.end_to_end_id).not.toBe(
      second.endToEndId,
    );
    expect((await restGet(app.url, `/payments/${byConfirmation.id}`)).body.payment.end_to_end_id).toBeNull();
  });

  test("GET /pix lists the ledger newest first, filters matched / unmatched, and pages with a cursor", async () => {
    const fresh = startTestApp({ clock });
    try {
      const payment = (await restCreate(fresh.url, 10)).body.payment;
      const pixes = [
        pixFor(payment, { txid: "1111111111111111111111111" }),
        pixFor(payment),
        pixFor(payment, { valor: "9.00" }),
      ];
      for (const pix of pixes) expect((await sendPixCallback(fresh.url, { pix: [pix] })).status).toBe(200);
      const ids = (page: any) => page.pix.map((p: any) => p.end_to_end_id);
      const all = (await restGet(fresh.url, "/pix")).body;
      expect(ids(all)).toEqual(pixes.map((p) => p.endToEndId).reverse());
      expect(all.next_cursor).toBeNull();
      expect(ids((await restGet(fresh.url, "/pix?status=matched")).body)).toEqual([pixes[1]!.endToEndId]);
      expect(ids((await restGet(fresh.url, "/pix?status=unmatched")).body)).toEqual([
        pixes[2]!.endToEndId,
        pixes[0]!.endToEndId,
      ]);
      const first = (await restGet(fresh.url, "/pix?limit=2")).body;
      expect(ids(first)).toEqual([pixes[2]!.endToEndId, pixes[1]!.endToEndId]);
      const rest = (await restGet(fresh.url, `/pix?limit=2&cursor=${first.next_cursor}`)).body;
      expect(rest).toEqual({
        pix: [expect.objectContaining({ end_to_end_id: pixes[0]!.endToEndId })],
        next_cursor: null,
      });
    } finally {
      await fresh.stop();
    }
  });

  test("the devolução of the spec's own example, one object instead of an array, is read as one", async () => {
    const payment = (await restCreate(app.url, 110)).body.payment;
    const pix = {
      ...pixFor(payment),
      devolucoes: {
        id: "123ABC",
        rtrId: "D12345678202009091221abcdf098765",
        valor: "10.00",
        horario: { solicitacao: "2020-09-09T20:15:00.358Z" },
        status: "EM_PROCESSAMENTO",
      },
    };
    expect(await sendPixCallback(app.url, { pix: [pix] })).toEqual({ status: 200, body: { message: "Received" } });
    expect((await restGet(app.url, `/payments/${payment.id}`)).body.payment.status).toBe("paid");
  });

  test("tRPC: pix.list and pix.get answer the same JSON as REST", async () => {
    const payment = (await restCreate(app.url, 7)).body.payment;
    const pix = pixFor(payment);
    await sendPixCallback(app.url, { pix: [pix] });
    const viaRest = (await restGet(app.url, `/pix/${pix.endToEndId}`)).body;
    const res = await fetch(
      `${app.url}/trpc/pix.get?input=${encodeURIComponent(JSON.stringify({ end_to_end_id: pix.endToEndId }))}`,
      { headers: merchantHeaders() },
    );
    expect(((await res.json()) as any).result.data).toEqual(viaRest);
  });
});

describe("with PSP_API_URL: each Pix is confirmed with GET {PSP_API_URL}/pix/{e2eid} before it is applied", () => {
  const psp = startPspSimulator();
  let app: TestApp;
  beforeAll(() => {
    app = startTestApp({
      env: { PSP_API_URL: psp.url, PSP_CLIENT_ID: "sim-client", PSP_CLIENT_SECRET: "sim-secret-not-for-production" },
    });
  });
  afterEach(() => {
    psp.intercept = undefined;
  });
  afterAll(async () => {
    await app.stop();
    await psp.stop();
  });

  test("a Pix the PSP confirms pays the payment; the GET came first, with a bearer token", async () => {
    const payment = (await restCreate(app.url, 254.3)).body.payment;
    const pix = pixFor(payment);
    psp.registerPix(pix);
    const before = psp.requests.length;
    expect(await sendPixCallback(app.url, { pix: [pix] })).toEqual({ status: 200, body: { message: "Received" } });
    const asked = psp.requests.slice(before).filter((r) => r.path.startsWith("/pix/"));
    expect(asked.map((r) => `${r.method} ${r.path}`)).toEqual([`GET /pix/${pix.endToEndId}`]);
    expect(asked[0]!.headers.authorization).toMatch(/^Bearer \S+$/);
    expect((await restGet(app.url, `/payments/${payment.id}`)).body.payment).toMatchObject({
      status: "paid",
      end_to_end_id: pix.endToEndId,
    });
  });

  test("a Pix the PSP does not know is not applied and not recorded; the callback answers 200", async () => {
    const payment = (await restCreate(app.url, 12)).body.payment;
    const forged = pixFor(payment);
    expect(await sendPixCallback(app.url, { pix: [forged] })).toEqual({ status: 200, body: { message: "Received" } });
    expect((await restGet(app.url, `/payments/${payment.id}`)).body.payment.status).toBe("pending");
    expect((await restGet(app.url, `/pix/${forged.endToEndId}`)).status).toBe(404);
  });

  test("a callback whose valor or txid differs from the PSP's record is not applied", async () => {
    const payment = (await restCreate(app.url, 15)).body.payment;
    const real = pixFor(payment, { valor: "1.00" });
    psp.registerPix(real);
    await sendPixCallback(app.url, { pix: [{ ...real, valor: "15.00" }] });
    const other = (await restCreate(app.url, 16)).body.payment;
    const elsewhere = pixFor(other);
    psp.registerPix(elsewhere);
    await sendPixCallback(app.url, { pix: [{ ...elsewhere, txid: pixFor(payment).txid }] });
    expect((await restGet(app.url, `/payments/${payment.id}`)).body.payment.status).toBe("pending");
    expect((await restGet(app.url, `/pix/${real.endToEndId}`)).status).toBe(404);
    expect((await restGet(app.url, `/pix/${elsewhere.endToEndId}`)).status).toBe(404);
  });

  test("when the PSP cannot answer, the callback gets 503 (the PSP sends it again) and the resend applies it", async () => {
    const payment = (await restCreate(app.url, 21)).body.payment;
    const pix = pixFor(payment);
    psp.registerPix(pix);
    const confirmedOne = pixFor((await restCreate(app.url, 22)).body.payment);
    psp.registerPix(confirmedOne);
    psp.intercept = (_req, url) =>
      url.pathname === `/pix/${pix.endToEndId}` ? new Response("down", { status: 503 }) : undefined;
    expect(await sendPixCallback(app.url, { pix: [pix, confirmedOne] })).toEqual({
      status: 503,
      body: { message: "Pix could not be verified with the PSP" },
    });
    expect((await restGet(app.url, `/payments/${payment.id}`)).body.payment.status).toBe("pending");
    // The Pix the PSP did confirm was applied already.
    expect((await restGet(app.url, `/pix/${confirmedOne.endToEndId}`)).body.pix.status).toBe("matched");
    psp.intercept = undefined;
    expect((await sendPixCallback(app.url, { pix: [pix, confirmedOne] })).status).toBe(200);
    expect((await restGet(app.url, `/payments/${payment.id}`)).body.payment.status).toBe("paid");
  });
});
