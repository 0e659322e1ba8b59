/**
 * The storage port's contract (src/payments/repository.ts), checked against the adapter directly: what
 * the service relies on from any database.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { NewPayment, PaymentRepository, PaymentWrites } from "../src/payments/repository.ts";
import { openTestStorage, type TestStorage } from "./backend.ts";
import { tempDir } from "./harness.ts";

let tmp: ReturnType<typeof tempDir>;
let storage: TestStorage;
let repo: PaymentRepository;

beforeEach(() => {
  tmp = tempDir("repository-test-");
  storage = openTestStorage(tmp.dir);
  repo = storage.storage.repository;
});
afterEach(async () => {
  await storage.close();
  tmp.cleanup();
});

const T0 = 1_700_000_000_000;
let n = 0;
const newPayment = (over: Partial<NewPayment> = {}): NewPayment => {
  n++;
  return {
    bankPaymentId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
    amountCents: 1000 + n,
    brCode: `code-${n}`,
    createdAt: T0,
    expiresAt: T0 + 60_000,
    description: null,
    metadata: {},
    returnUrl: null,
    ...over,
  };
};

/** Creates a payment (insertPayment appends its "created" event), as the service does. */
const create = (over: Partial<NewPayment> = {}) =>
  repo.write(function* (tx) {
    return yield* tx.insertPayment(newPayment(over));
  });

describe("the payment repository", () => {
  test("a created payment reads back by id and by bank_payment_id, in integer cents and epoch milliseconds", async () => {
    const row = await create({ amountCents: 25430 });
    expect(await repo.findById(row.id)).toEqual(row);
    expect(await repo.findByBankPaymentId(row.bankPaymentId)).toEqual(row);
    expect(row).toMatchObject({ amountCents: 25430, status: "pending", createdAt: T0, paidAt: null, expiredAt: null });
    expect(await repo.findById(row.id + 1000)).toBeUndefined();
    expect(await repo.findByBankPaymentId("00000000-0000-4000-8000-999999999999")).toBeUndefined();
  });

  test("lastEventId is the newest event's id, 0 for a payment without one or unknown", async () => {
    const a = await create();
    const b = await create();
    const firstB = await repo.lastEventId(b.bankPaymentId);
    expect(firstB).toBeGreaterThan(await repo.lastEventId(a.bankPaymentId));
    const appended = await repo.write((tx) => tx.insertEvent({ paymentId: a.id, type: "refunded", at: T0 + 1 }));
    expect(await repo.lastEventId(a.bankPaymentId)).toBe(appended);
    await repo.write((tx) => tx.markPaid(b.id, T0 + 1)); // appends the paid event
    const paidEvent = await repo.lastEventId(b.bankPaymentId);
    expect(paidEvent).toBeGreaterThan(appended);
    expect(paidEvent).toBeGreaterThan(firstB);
    expect(await repo.lastEventId("00000000-0000-4000-8000-999999999999")).toBe(0);
  });

  test("the steps that change a status append its event: created, paid once, expired once per row", async () => {
    const events = async (id: number) =>
      (await storage.query("SELECT type, at FROM payment_events WHERE payment_id = ? ORDER BY id", id)).map(
        (r: any) => `${r.type}@${Number(r.at) - T0}`,
      );
    const a = await create({ createdAt: T0, expiresAt: T0 + 10 });
    const b = await create({ createdAt: T0, expiresAt: T0 + 10 });
    expect(await events(a.id)).toEqual(["created@0"]);
    await repo.write((tx) => tx.markPaid(a.id, T0 + 2));
    await repo.write((tx) => tx.markPaid(a.id, T0 + 3)); // not pending: no change, no event
    expect(await events(a.id)).toEqual(["created@0", "paid@2"]);
    expect((await repo.write((tx) => tx.markDueExpired(T0 + 20, 10))).map((r) => r.id)).toEqual([b.id]);
    expect(await repo.write((tx) => tx.markDueExpired(T0 + 21, 10))).toEqual([]);
    expect(await events(b.id)).toEqual(["created@0", "expired@20"]);
    expect(await events(a.id)).toEqual(["created@0", "paid@2"]);
  });

  test("markPaid changes a pending payment before its expiry once, and nothing else", async () => {
    const live = await create();
    const late = await create({ expiresAt: T0 + 10 });
    const paid = await repo.write((tx) => tx.markPaid(live.id, T0 + 5));
    expect(paid).toMatchObject({ id: live.id, status: "paid", paidAt: T0 + 5 });
    expect(await repo.write((tx) => tx.markPaid(live.id, T0 + 6))).toBeUndefined();
    expect(await repo.write((tx) => tx.markPaid(late.id, T0 + 10))).toBeUndefined(); // at its expiry: too late
    expect((await repo.findById(late.id))?.status).toBe("pending");
  });

  test("markDueExpired takes at most `limit` due rows per call, each row once, never a paid or live one", async () => {
    const due = await Promise.all(Array.from({ length: 5 }, () => create({ expiresAt: T0 + 10 })));
    const live = await create({ expiresAt: T0 + 1000 });
    const paidFirst = await create({ expiresAt: T0 + 10 });
    await repo.write((tx) => tx.markPaid(paidFirst.id, T0 + 1));
    const first = await repo.write((tx) => tx.markDueExpired(T0 + 10, 3));
    const second = await repo.write((tx) => tx.markDueExpired(T0 + 10, 3));
    const third = await repo.write((tx) => tx.markDueExpired(T0 + 10, 3));
    expect(first.length).toBe(3);
    expect(second.length).toBe(2);
    expect(third).toEqual([]);
    expect([...first, ...second].map((r) => r.id).sort((x, y) => x - y)).toEqual(
      due.map((r) => r.id).sort((x, y) => x - y),
    );
    for (const r of [...first, ...second]) expect(r).toMatchObject({ status: "expired", expiredAt: T0 + 10 });
    expect((await repo.findById(live.id))?.status).toBe("pending");
    expect((await repo.findById(paidFirst.id))?.status).toBe("paid");
  });

  test("list pages newest first by effective status; countByStatus counts the same way", async () => {
    const expiredByTime = await create({ expiresAt: T0 + 10 });
    const pending = await create({ expiresAt: T0 + 1000 });
    const paid = await create({ expiresAt: T0 + 1000 });
    await repo.write((tx) => tx.markPaid(paid.id, T0 + 1));
    const now = T0 + 100;
    const ids = async (filter: "all" | "pending" | "paid" | "expired", before = Number.MAX_SAFE_INTEGER, limit = 10) =>
      (await repo.list(filter, { before, limit, now })).map((r) => r.id);
    expect(await ids("all")).toEqual([paid.id, pending.id, expiredByTime.id]);
    expect(await ids("all", paid.id, 1)).toEqual([pending.id]);
    expect(await ids("pending")).toEqual([pending.id]);
    expect(await ids("paid")).toEqual([paid.id]);
    expect(await ids("expired")).toEqual([expiredByTime.id]); // pending past its expiry, never swept
    expect(await repo.countByStatus(now)).toEqual({ pending: 1, paid: 1, expired: 1 });
    expect(await repo.countByStatus(T0)).toEqual({ pending: 2, paid: 1, expired: 0 });
  });

  test("a write that throws keeps none of its changes, and the caller gets its error", async () => {
    const boom = new Error("boom");
    const before = await repo.list("all", { before: Number.MAX_SAFE_INTEGER, limit: 10, now: T0 });
    await expect(
      repo.write(function* (tx) {
        yield* tx.insertPayment(newPayment());
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await repo.list("all", { before: Number.MAX_SAFE_INTEGER, limit: 10, now: T0 })).toEqual(before);
  });

  test("an idempotency key is claimed once: a second claim fails its write, the first stays", async () => {
    const claim = (tx: PaymentWrites, paymentId: number) =>
      tx.insertIdempotencyKey({ merchant: "m", key: "k", requestHash: "h", paymentId, createdAt: T0 });
    const first = await create();
    await repo.write((tx) => claim(tx, first.id));
    const second = repo.write(function* (tx) {
      const row = yield* tx.insertPayment(newPayment());
      yield* claim(tx, row.id);
      return row;
    });
    await expect(second).rejects.toThrow();
    expect(await repo.write((tx) => tx.findIdempotencyKey("m", "k"))).toEqual({
      requestHash: "h",
      paymentId: first.id,
    });
    expect((await repo.list("all", { before: Number.MAX_SAFE_INTEGER, limit: 10, now: T0 })).length).toBe(1);
  });

  describe("createPayment and confirmPayment: a write's whole change in one step", () => {
    const endpoint = () =>
      repo.write((tx) =>
        tx.insertWebhookEndpoint({
          id: "we_1",
          url: "https://shop.example/hooks",
          events: [],
          description: null,
          sealedSecret: "sealed",
          createdAt: T0,
        }),
      );
    const aroundId = (id: string) => ({
      id,
      type: "payment.created" as const,
      createdAt: T0,
      dueAt: T0,
      payloadBefore: '{"id":',
      payloadAfter: ',"ok":true}',
    });
    const claim = { merchant: "m", key: "k", requestHash: "h" };
    const count = async (table: string) => Number((await storage.query(`SELECT count(*) AS n FROM ${table}`))[0]!.n);

    test("createPayment inserts the payment, its event, the key's claim and the outbox rows, the payload around its id", async () => {
      await endpoint();
      const outcome = await repo.write((tx) =>
        tx.createPayment(newPayment(), { idempotencyKey: claim, webhookEvent: aroundId("evt_1") }),
      );
      if (!outcome.created) throw new Error("not created");
      expect(outcome.queued).toBe(1);
      expect(await repo.findById(outcome.row.id)).toEqual(outcome.row);
      expect(outcome.row).toMatchObject({ status: "pending", refundedCents: 0, paidAt: null });
      expect(await repo.lastEventId(outcome.row.bankPaymentId)).toBeGreaterThan(0);
      expect(await storage.query("SELECT payload FROM webhook_events WHERE id = ?", "evt_1")).toEqual([
        { payload: `{"id":${outcome.row.id},"ok":true}` },
      ]);
      expect(await count("endpoint_deliveries")).toBe(1);
      expect(await repo.write((tx) => tx.findIdempotencyKey("m", "k"))).toEqual({
        requestHash: "h",
        paymentId: outcome.row.id,
      });
    });

    test("createPayment with a claimed key changes nothing and gives the claim back", async () => {
      const first = await repo.write((tx) =>
        tx.createPayment(newPayment(), { idempotencyKey: claim, webhookEvent: aroundId("evt_1") }),
      );
      if (!first.created) throw new Error("not created");
      const again = await repo.write((tx) =>
        tx.createPayment(newPayment(), {
          idempotencyKey: { ...claim, requestHash: "other" },
          webhookEvent: aroundId("evt_2"),
        }),
      );
      expect(again).toEqual({ created: false, kept: { requestHash: "h", paymentId: first.row.id } });
      expect(await count("payments")).toBe(1);
      expect(await count("payment_events")).toBe(1);
      expect(await count("webhook_events")).toBe(0);
    });

    test("two writes racing one key: one payment; the other write runs again and finds the claim", async () => {
      const race = () =>
        repo.write((tx) => tx.createPayment(newPayment(), { idempotencyKey: claim, webhookEvent: aroundId("evt_x") }));
      const outcomes = await Promise.all([race(), race(), race()]);
      expect(outcomes.filter((o) => o.created)).toHaveLength(1);
      expect(outcomes.filter((o) => !o.created)).toHaveLength(2);
      expect(await count("payments")).toBe(1);
      expect(await count("idempotency_keys")).toBe(1);
    });

    test("confirmPayment: pending → paid with its event, receipt and outbox rows, once", async () => {
      await endpoint();
      const row = await create();
      const event = (id: string) => ({
        id,
        type: "payment.paid" as const,
        payload: "{}",
        createdAt: T0 + 5,
        dueAt: T0 + 5,
      });
      const paid = await repo.write((tx) =>
        tx.confirmPayment(row.id, T0 + 5, { webhookEvent: event("evt_p1"), receipt: { webhookId: "msg_1" } }),
      );
      expect(paid).toEqual({ row: { ...row, status: "paid", paidAt: T0 + 5 }, queued: 1 });
      expect(await repo.write((tx) => tx.findWebhookReceipt("msg_1"))).toEqual({ paymentId: row.id });
      const again = await repo.write((tx) => tx.confirmPayment(row.id, T0 + 6, { webhookEvent: event("evt_p2") }));
      expect(again).toBeUndefined();
      expect(await count("webhook_events")).toBe(1);
      expect(await count("payment_events")).toBe(2);
      const expired = await create();
      expect(
        await repo.write((tx) => tx.confirmPayment(expired.id, T0 + 60_000, { webhookEvent: event("evt_p3") })),
      ).toBeUndefined();
      expect(await count("webhook_events")).toBe(1);
    });

    test("a receipt recorded first fails a rival confirmation's write, which keeps none of its changes", async () => {
      const [a, b] = [await create(), await create()];
      const event = (id: string) => ({ id, type: "payment.paid" as const, payload: "{}", createdAt: T0, dueAt: T0 });
      await repo.write((tx) =>
        tx.confirmPayment(a.id, T0 + 1, { webhookEvent: event("evt_a"), receipt: { webhookId: "msg" } }),
      );
      await expect(
        repo.write((tx) =>
          tx.confirmPayment(b.id, T0 + 1, { webhookEvent: event("evt_b"), receipt: { webhookId: "msg" } }),
        ),
      ).rejects.toThrow();
      expect((await repo.findById(b.id))?.status).toBe("pending");
    });

    test("after a final step changed data its write may read, but any other change is refused", async () => {
      const read = await repo.write(function* (tx) {
        const outcome = yield* tx.createPayment(newPayment(), { webhookEvent: aroundId("evt_r") });
        if (!outcome.created) throw new Error("not created");
        return yield* tx.findById(outcome.row.id);
      });
      expect(read?.status).toBe("pending");
      await expect(
        repo.write(function* (tx) {
          yield* tx.createPayment(newPayment(), { webhookEvent: aroundId("evt_s") });
          yield* tx.insertPayment(newPayment());
        }),
      ).rejects.toThrow("a final step must be the last change");
    });
  });

  test("webhook receipts and idempotency keys are pruned by age", async () => {
    const row = await create();
    await repo.write(function* (tx) {
      yield* tx.insertIdempotencyKey({ merchant: "m", key: "old", requestHash: "h", paymentId: row.id, createdAt: T0 });
      yield* tx.insertWebhookReceipt({ webhookId: "w-old", paymentId: row.id, receivedAt: T0 });
      yield* tx.insertWebhookReceipt({ webhookId: "w-new", paymentId: row.id, receivedAt: T0 + 100 });
    });
    await repo.write((tx) => tx.pruneBefore(T0 + 50));
    const kept = await repo.write(function* (tx) {
      return {
        key: yield* tx.findIdempotencyKey("m", "old"),
        old: yield* tx.findWebhookReceipt("w-old"),
        fresh: yield* tx.findWebhookReceipt("w-new"),
      };
    });
    expect(kept).toEqual({ key: undefined, old: undefined, fresh: { paymentId: row.id } });
  });

  test("a payment is found by the txid of its BR Code (txidFromUuid of bank_payment_id), old rows included", async () => {
    const row = await create({ bankPaymentId: "ca2910ae-c4e8-44d3-b510-e573e9be9a58" });
    const found = await repo.write((tx) => tx.findByTxid("ca2910aec4e844d3b510e573e"));
    expect(found?.id).toBe(row.id);
    expect(await repo.write((tx) => tx.findByTxid("ca2910aec4e844d3b510e573f"))).toBeUndefined();
  });

  test("a received Pix is claimed once by its endToEndId; markPaid records the endToEndId of the Pix that paid", async () => {
    const row = await create();
    const e2e = "E12345678202009091221abcdef12345";
    const entry = {
      endToEndId: e2e,
      txid: "t1",
      amountCents: row.amountCents,
      receivedAt: T0,
      recordedAt: T0 + 1,
      payerInfo: null,
      status: "matched" as const,
      reason: null,
      paymentId: row.id,
    };
    const first = await repo.write((tx) => tx.claimReceivedPix(entry));
    expect(first).toMatchObject({ endToEndId: e2e, status: "matched", paymentId: row.id, refundedCents: 0 });
    expect(await repo.write((tx) => tx.claimReceivedPix({ ...entry, status: "unmatched" }))).toBeUndefined();
    expect((await repo.findReceivedPix(e2e))?.status).toBe("matched");
    const paid = await repo.write((tx) => tx.markPaid(row.id, T0 + 2, e2e));
    expect(paid).toMatchObject({ status: "paid", endToEndId: e2e, refundReservedCents: 0, refundedCents: 0 });
  });

  test("reserveRefund is one conditional write: it never lets reserved refunds pass the amount, nor touch an unpaid payment", async () => {
    const row = await create({ amountCents: 1000 });
    expect(await repo.write((tx) => tx.reserveRefund(row.id, 1))).toBeUndefined(); // pending
    await repo.write((tx) => tx.markPaid(row.id, T0 + 1));
    const results = await Promise.all(
      Array.from({ length: 8 }, () => repo.write((tx) => tx.reserveRefund(row.id, 300))),
    );
    expect(results.filter(Boolean)).toHaveLength(3);
    expect((await repo.findById(row.id))?.refundReservedCents).toBe(900);
    expect(await repo.write((tx) => tx.reserveRefund(row.id, 101))).toBeUndefined();
    expect((await repo.write((tx) => tx.reserveRefund(row.id, 100)))?.refundReservedCents).toBe(1000);
    expect((await repo.write((tx) => tx.releaseRefund(row.id, 300))).refundReservedCents).toBe(700);
    expect((await repo.write((tx) => tx.addRefunded(row.id, 300))).refundedCents).toBe(300);
  });

  test("the refund outbox: a claim leases due rows, at most `limit`, one claim at a time; only the holder reschedules", async () => {
    const row = await create();
    await repo.write((tx) => tx.markPaid(row.id, T0 + 1));
    const ids = ["rfa", "rfb", "rfc"];
    await repo.write(function* (tx) {
      for (const id of ids) {
        yield* tx.insertRefund({
          id,
          paymentId: row.id,
          endToEndId: null,
          amountCents: 1,
          reason: null,
          createdAt: T0,
        });
        yield* tx.queueRefundSend({ refundId: id, nextAttemptAt: T0 + 10 });
      }
    });
    const claim = (now: number, token: string, limit = 10) =>
      repo.write((tx) => tx.claimRefundSends({ now, leaseUntil: now + 1000, token, limit }));
    expect(await repo.hasDueRefundSends(T0 + 9)).toBe(false);
    expect(await claim(T0 + 9, "early")).toEqual([]);
    expect(await repo.hasDueRefundSends(T0 + 10)).toBe(true);
    const [first, second] = await Promise.all([claim(T0 + 10, "one", 2), claim(T0 + 10, "two", 2)]);
    const taken = [...first!, ...second!];
    expect(taken).toHaveLength(3);
    expect(new Set(taken.map((c) => c.refundId))).toEqual(new Set(ids));
    for (const c of taken) expect(c).toMatchObject({ phase: "send", attempts: 1 });
    expect(await claim(T0 + 500, "three")).toEqual([]); // leased until T0 + 1010
    const holder = first!.length ? "one" : "two";
    const held = (holder === "one" ? first : second)![0]!.refundId;
    const move = (token: string) =>
      repo.write((tx) =>
        tx.rescheduleRefundSend({
          refundId: held,
          token,
          phase: "check",
          attempts: 0,
          nextAttemptAt: T0 + 2000,
          lastError: null,
        }),
      );
    expect(await move("someone-else")).toBe(false);
    expect(await move(holder)).toBe(true);
    expect(await move(holder)).toBe(false); // released
    const later = await claim(T0 + 1010, "four");
    expect(later.map((c) => c.refundId).sort()).toEqual(ids.filter((id) => id !== held).sort());
    expect(later.every((c) => c.attempts === 2)).toBe(true);
    expect(await claim(T0 + 2000, "five")).toEqual([{ refundId: held, phase: "check", attempts: 1 }]);
    await repo.write((tx) => tx.deleteRefundSend(held));
    expect(await claim(T0 + 99_999, "six")).toHaveLength(2);
  });

  test("a refund settles once: pending → refunded or failed, and keeps the PSP's rtrId", async () => {
    const row = await create();
    const refund = await repo.write((tx) =>
      tx.insertRefund({ id: "rfx", paymentId: row.id, endToEndId: null, amountCents: 5, reason: "r", createdAt: T0 }),
    );
    expect(refund).toMatchObject({ id: "rfx", status: "pending", settledAt: null, rtrId: null });
    await repo.write((tx) => tx.setRefundRtrId("rfx", "D1"));
    const settled = await repo.write((tx) =>
      tx.settleRefund("rfx", { status: "refunded", failureReason: null, rtrId: null, at: T0 + 5 }),
    );
    expect(settled).toMatchObject({ status: "refunded", settledAt: T0 + 5, rtrId: "D1" });
    expect(
      await repo.write((tx) =>
        tx.settleRefund("rfx", { status: "failed", failureReason: "x", rtrId: null, at: T0 + 6 }),
      ),
    ).toBeUndefined();
    expect((await repo.listRefunds(row.id)).map((r) => r.status)).toEqual(["refunded"]);
  });
});
