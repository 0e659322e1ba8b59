import type { SQLQueryBindings, Statement } from "bun:sqlite";
import { and, count, desc, eq, gt, inArray, is, lt, lte, Param, Placeholder, type SQL, sql } from "drizzle-orm";
import type { PaymentStatus, ReceivedPix, Refund } from "../../payments/model.ts";
import {
  CHANGE_AFTER_FINAL,
  type ClaimedRefundSend,
  confirmPaymentInSteps,
  createPaymentInSteps,
  type ListFilter,
  type PaymentRecord,
  type PaymentRepository,
  type PaymentWrites,
  type ReceivedPixFilter,
  type WriteFn,
} from "../../payments/repository.ts";
import { effectiveStatusColumn, hasEffectiveStatus } from "../effective-status.ts";
import type { Db } from "./client.ts";
import { isUnavailable, toStorageError } from "./errors.ts";
import {
  idempotencyKeys,
  paymentEvents,
  payments,
  receivedPix,
  refundIdempotencyKeys,
  refundOutbox,
  refunds,
  webhookDeliveries,
} from "./schema.ts";
import { done } from "./steps.ts";
import { createSqliteWebhookStore } from "./webhook-store.ts";
import { createWriteBatcher } from "./write-batch.ts";

const p = sql.placeholder;

/** A payments row as bun:sqlite returns it (column names of schema.ts). */
interface RawPaymentRow {
  id: number;
  bank_payment_id: string;
  amount_cents: number;
  status: PaymentStatus;
  br_code: string;
  created_at: number;
  expires_at: number;
  paid_at: number | null;
  expired_at: number | null;
  description: string | null;
  metadata: string | null;
  return_url: string | null;
  end_to_end_id: string | null;
  refund_reserved_cents: number;
  refunded_cents: number;
}

interface RawReceivedPixRow {
  id: number;
  end_to_end_id: string;
  txid: string | null;
  amount_cents: number;
  received_at: number;
  payer_info: string | null;
  status: ReceivedPix["status"];
  reason: ReceivedPix["reason"];
  payment_id: number | null;
  refunded_cents: number;
}

interface RawRefundRow {
  id: string;
  payment_id: number;
  end_to_end_id: string | null;
  amount_cents: number;
  reason: string | null;
  status: Refund["status"];
  failure_reason: string | null;
  rtr_id: string | null;
  created_at: number;
  settled_at: number | null;
}

const toReceivedPix = (r: RawReceivedPixRow): ReceivedPix => ({
  id: r.id,
  endToEndId: r.end_to_end_id,
  txid: r.txid,
  amountCents: r.amount_cents,
  receivedAt: r.received_at,
  payerInfo: r.payer_info,
  status: r.status,
  reason: r.reason,
  paymentId: r.payment_id,
  refundedCents: r.refunded_cents,
});

const toRefund = (r: RawRefundRow): Refund => ({
  id: r.id,
  paymentId: r.payment_id,
  endToEndId: r.end_to_end_id,
  amountCents: r.amount_cents,
  reason: r.reason,
  status: r.status,
  failureReason: r.failure_reason,
  rtrId: r.rtr_id,
  createdAt: r.created_at,
  settledAt: r.settled_at,
});

const toRecord = (r: RawPaymentRow): PaymentRecord => ({
  id: r.id,
  bankPaymentId: r.bank_payment_id,
  amountCents: r.amount_cents,
  status: r.status,
  brCode: r.br_code,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  paidAt: r.paid_at,
  expiredAt: r.expired_at,
  description: r.description,
  metadata: r.metadata === null ? {} : (JSON.parse(r.metadata) as Record<string, string>),
  returnUrl: r.return_url,
  endToEndId: r.end_to_end_id,
  refundReservedCents: r.refund_reserved_cents,
  refundedCents: r.refunded_cents,
});

/** No metadata is stored as NULL, so rows from before the column existed and new ones read alike. */
const metadataColumn = (metadata: Record<string, string>) =>
  Object.keys(metadata).length === 0 ? null : JSON.stringify(metadata);

/**
 * Drizzle writes the SQL from the schema, once; bun:sqlite runs it. Drizzle's own prepared queries
 * spend more time filling placeholders and mapping rows column by column than SQLite spends on a
 * primary-key read, so hot queries bind positional arguments directly and rows are mapped by hand.
 */
function compile<Values extends Record<string, SQLQueryBindings>>(
  db: Db,
  query: { toSQL(): { sql: string; params: unknown[] } },
) {
  const { sql: text, params } = query.toSQL();
  const stmt: Statement = db.$client.prepare(text);
  const slots: Array<{ name: keyof Values } | { value: SQLQueryBindings }> = params.map((param) => {
    const inner = is(param, Param) ? param.value : param;
    return is(inner, Placeholder) ? { name: inner.name as keyof Values } : { value: inner as SQLQueryBindings };
  });
  const bind = (values: Values): SQLQueryBindings[] =>
    slots.map((slot) => ("name" in slot ? values[slot.name] : slot.value));
  return {
    all: <T>(values: Values) => stmt.all(...bind(values)) as T[],
    run: (values: Values) => stmt.run(...bind(values)),
  };
}

/** The steps that only read: a write may still use them after createPayment or confirmPayment changed data. */
const READ_STEPS = new Set([
  "findById",
  "findByBankPaymentId",
  "findByTxid",
  "findIdempotencyKey",
  "findWebhookReceipt",
  "findReceivedPix",
  "findRefund",
  "findRefundIdempotencyKey",
]);

/**
 * Runs a write's generator to its end within the current synchronous turn. Every step of this adapter is
 * done at once, so the generator never yields; one that does was given another adapter's step.
 */
function runToEnd<T>(fn: WriteFn<T>, tx: PaymentWrites): T {
  const result = fn(tx)[Symbol.iterator]().next();
  if (!result.done) throw new TypeError("A SQLite write yielded: its steps must come from the SQLite transaction");
  return result.value;
}

/**
 * The SQLite adapter of the payment repository: every query prepared once (see compile), writes
 * group-committed (write-batch.ts). Statements with RETURNING or several rows run with .all() so none is
 * left mid-step holding a read snapshot (which stops WAL checkpoints).
 */
export function createSqlitePaymentRepository(
  db: Db,
  options: { onUnavailable?: (err: unknown) => void } = {},
): PaymentRepository {
  const insertPayment = compile<{
    bankPaymentId: string;
    amountCents: number;
    brCode: string;
    createdAt: number;
    expiresAt: number;
    description: string | null;
    metadata: string | null;
    returnUrl: string | null;
  }>(
    db,
    db
      .insert(payments)
      .values({
        bankPaymentId: p("bankPaymentId"),
        amountCents: p("amountCents"),
        status: "pending",
        brCode: p("brCode"),
        createdAt: p("createdAt"),
        expiresAt: p("expiresAt"),
        description: p("description"),
        metadata: p("metadata"),
        returnUrl: p("returnUrl"),
      })
      .returning(),
  );

  const insertEvent = compile<{ paymentId: number; type: string; at: number }>(
    db,
    db
      .insert(paymentEvents)
      .values({ paymentId: p("paymentId"), type: p("type"), at: p("at") })
      .returning({ id: paymentEvents.id }),
  );

  const byId = compile<{ id: number }>(
    db,
    db
      .select()
      .from(payments)
      .where(eq(payments.id, p("id"))),
  );
  const byBankId = compile<{ bankPaymentId: string }>(
    db,
    db
      .select()
      .from(payments)
      .where(eq(payments.bankPaymentId, p("bankPaymentId"))),
  );
  const lastEvent = compile<{ bankPaymentId: string }>(
    db,
    db
      .select({ id: sql<number>`coalesce(max(${paymentEvents.id}), 0)`.as("id") })
      .from(paymentEvents)
      .innerJoin(payments, eq(payments.id, paymentEvents.paymentId))
      .where(eq(payments.bankPaymentId, p("bankPaymentId"))),
  );

  const byTxid = compile<{ txid: string }>(
    db,
    db
      .select()
      .from(payments)
      .where(eq(payments.txid, p("txid"))),
  );

  const markPaid = compile<{ id: number; now: number; endToEndId: string | null }>(
    db,
    db
      .update(payments)
      .set({ status: "paid", paidAt: sql`${p("now")}`, endToEndId: sql`${p("endToEndId")}` })
      .where(and(eq(payments.id, p("id")), eq(payments.status, "pending"), gt(payments.expiresAt, p("now"))))
      .returning(),
  );

  const due = and(eq(payments.status, "pending"), lte(payments.expiresAt, p("now")));
  const markExpired = compile<{ now: number; limit: number }>(
    db,
    db
      .update(payments)
      .set({ status: "expired", expiredAt: sql`${p("now")}` })
      .where(
        and(
          due,
          inArray(
            payments.id,
            db.select({ id: payments.id }).from(payments).where(due).orderBy(payments.id).limit(p("limit")),
          ),
        ),
      )
      .returning(),
  );

  const findIdempotency = compile<{ merchant: string; key: string }>(
    db,
    db
      .select({ requestHash: idempotencyKeys.requestHash, paymentId: idempotencyKeys.paymentId })
      .from(idempotencyKeys)
      .where(and(eq(idempotencyKeys.merchant, p("merchant")), eq(idempotencyKeys.key, p("key")))),
  );
  const insertIdempotency = compile<{
    merchant: string;
    key: string;
    requestHash: string;
    paymentId: number;
    createdAt: number;
  }>(
    db,
    db.insert(idempotencyKeys).values({
      merchant: p("merchant"),
      key: p("key"),
      requestHash: p("requestHash"),
      paymentId: p("paymentId"),
      createdAt: p("createdAt"),
    }),
  );

  const findReceipt = compile<{ webhookId: string }>(
    db,
    db
      .select({ paymentId: webhookDeliveries.paymentId })
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.webhookId, p("webhookId"))),
  );
  const insertReceipt = compile<{ webhookId: string; paymentId: number; receivedAt: number }>(
    db,
    db.insert(webhookDeliveries).values({
      webhookId: p("webhookId"),
      paymentId: p("paymentId"),
      receivedAt: p("receivedAt"),
    }),
  );
  const pruneIdempotency = compile<{ before: number }>(
    db,
    db.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, p("before"))),
  );
  const pruneReceipts = compile<{ before: number }>(
    db,
    db.delete(webhookDeliveries).where(lt(webhookDeliveries.receivedAt, p("before"))),
  );

  const claimPix = compile<{
    endToEndId: string;
    txid: string | null;
    amountCents: number;
    receivedAt: number;
    recordedAt: number;
    payerInfo: string | null;
    status: string;
    reason: string | null;
    paymentId: number | null;
  }>(
    db,
    db
      .insert(receivedPix)
      .values({
        endToEndId: p("endToEndId"),
        txid: p("txid"),
        amountCents: p("amountCents"),
        receivedAt: p("receivedAt"),
        recordedAt: p("recordedAt"),
        payerInfo: p("payerInfo"),
        status: p("status"),
        reason: p("reason"),
        paymentId: p("paymentId"),
      })
      .onConflictDoNothing({ target: receivedPix.endToEndId })
      .returning(),
  );
  const pixByE2e = compile<{ endToEndId: string }>(
    db,
    db
      .select()
      .from(receivedPix)
      .where(eq(receivedPix.endToEndId, p("endToEndId"))),
  );
  const pixOutcome = compile<{ endToEndId: string; status: string; reason: string | null; paymentId: number | null }>(
    db,
    db
      .update(receivedPix)
      .set({ status: sql`${p("status")}`, reason: sql`${p("reason")}`, paymentId: sql`${p("paymentId")}` })
      .where(eq(receivedPix.endToEndId, p("endToEndId"))),
  );
  const pixRefunded = compile<{ endToEndId: string; cents: number }>(
    db,
    db
      .update(receivedPix)
      .set({ refundedCents: sql`${receivedPix.refundedCents} + ${p("cents")}` })
      .where(eq(receivedPix.endToEndId, p("endToEndId"))),
  );
  const pixPage = (filter: ReceivedPixFilter) => {
    const before = lt(receivedPix.id, p("before"));
    const where = filter === "all" ? before : and(eq(receivedPix.status, filter), before);
    return compile<{ before: number; limit: number }>(
      db,
      db.select().from(receivedPix).where(where).orderBy(desc(receivedPix.id)).limit(p("limit")),
    );
  };
  const pixPages = { all: pixPage("all"), matched: pixPage("matched"), unmatched: pixPage("unmatched") };

  // The refund's one conditional write: reserved + this refund never above the payment's amount.
  const reserve = compile<{ id: number; cents: number }>(
    db,
    db
      .update(payments)
      .set({ refundReservedCents: sql`${payments.refundReservedCents} + ${p("cents")}` })
      .where(
        and(
          eq(payments.id, p("id")),
          eq(payments.status, "paid"),
          lte(sql`${payments.refundReservedCents} + ${p("cents")}`, payments.amountCents),
        ),
      )
      .returning(),
  );
  const release = compile<{ id: number; cents: number }>(
    db,
    db
      .update(payments)
      .set({ refundReservedCents: sql`${payments.refundReservedCents} - ${p("cents")}` })
      .where(eq(payments.id, p("id")))
      .returning(),
  );
  const refundedMore = compile<{ id: number; cents: number }>(
    db,
    db
      .update(payments)
      .set({ refundedCents: sql`${payments.refundedCents} + ${p("cents")}` })
      .where(eq(payments.id, p("id")))
      .returning(),
  );
  const insertRefund = compile<{
    id: string;
    paymentId: number;
    endToEndId: string | null;
    amountCents: number;
    reason: string | null;
    createdAt: number;
  }>(
    db,
    db
      .insert(refunds)
      .values({
        id: p("id"),
        paymentId: p("paymentId"),
        endToEndId: p("endToEndId"),
        amountCents: p("amountCents"),
        reason: p("reason"),
        status: "pending",
        createdAt: p("createdAt"),
      })
      .returning(),
  );
  const refundById = compile<{ id: string }>(
    db,
    db
      .select()
      .from(refunds)
      .where(eq(refunds.id, p("id"))),
  );
  const refundsOf = compile<{ paymentId: number }>(
    db,
    db
      .select()
      .from(refunds)
      .where(eq(refunds.paymentId, p("paymentId")))
      .orderBy(desc(refunds.seq)),
  );
  const settle = compile<{
    id: string;
    status: string;
    failureReason: string | null;
    rtrId: string | null;
    at: number;
  }>(
    db,
    db
      .update(refunds)
      .set({
        status: sql`${p("status")}`,
        failureReason: sql`${p("failureReason")}`,
        rtrId: sql`coalesce(${p("rtrId")}, ${refunds.rtrId})`,
        settledAt: sql`${p("at")}`,
      })
      .where(and(eq(refunds.id, p("id")), eq(refunds.status, "pending")))
      .returning(),
  );
  const setRtrId = compile<{ id: string; rtrId: string }>(
    db,
    db
      .update(refunds)
      .set({ rtrId: sql`${p("rtrId")}` })
      .where(eq(refunds.id, p("id"))),
  );
  const findRefundKey = compile<{ merchant: string; key: string }>(
    db,
    db
      .select({ requestHash: refundIdempotencyKeys.requestHash, refundId: refundIdempotencyKeys.refundId })
      .from(refundIdempotencyKeys)
      .where(and(eq(refundIdempotencyKeys.merchant, p("merchant")), eq(refundIdempotencyKeys.key, p("key")))),
  );
  const insertRefundKey = compile<{
    merchant: string;
    key: string;
    requestHash: string;
    refundId: string;
    createdAt: number;
  }>(
    db,
    db.insert(refundIdempotencyKeys).values({
      merchant: p("merchant"),
      key: p("key"),
      requestHash: p("requestHash"),
      refundId: p("refundId"),
      createdAt: p("createdAt"),
    }),
  );
  const pruneRefundKeys = compile<{ before: number }>(
    db,
    db.delete(refundIdempotencyKeys).where(lt(refundIdempotencyKeys.createdAt, p("before"))),
  );

  const queueSend = compile<{ refundId: string; nextAttemptAt: number }>(
    db,
    db.insert(refundOutbox).values({ refundId: p("refundId"), phase: "send", nextAttemptAt: p("nextAttemptAt") }),
  );
  const dueSend = and(lte(refundOutbox.nextAttemptAt, p("now")), lte(refundOutbox.leaseUntil, p("now")));
  const anyDueSend = compile<{ now: number }>(
    db,
    db.select({ refundId: refundOutbox.refundId }).from(refundOutbox).where(dueSend).limit(1),
  );
  // BEGIN IMMEDIATE holds the write lock from the first statement, so no other connection claims in between.
  const claimSends = compile<{ now: number; leaseUntil: number; token: string; limit: number }>(
    db,
    db
      .update(refundOutbox)
      .set({
        leaseUntil: sql`${p("leaseUntil")}`,
        leaseToken: sql`${p("token")}`,
        attempts: sql`${refundOutbox.attempts} + 1`,
      })
      .where(
        and(
          dueSend,
          inArray(
            refundOutbox.refundId,
            db
              .select({ id: refundOutbox.refundId })
              .from(refundOutbox)
              .where(dueSend)
              .orderBy(refundOutbox.nextAttemptAt)
              .limit(p("limit")),
          ),
        ),
      )
      .returning({ refundId: refundOutbox.refundId, phase: refundOutbox.phase, attempts: refundOutbox.attempts }),
  );
  const rescheduleSend = compile<{
    refundId: string;
    token: string;
    phase: string;
    attempts: number;
    nextAttemptAt: number;
    lastError: string | null;
  }>(
    db,
    db
      .update(refundOutbox)
      .set({
        phase: sql`${p("phase")}`,
        attempts: sql`${p("attempts")}`,
        nextAttemptAt: sql`${p("nextAttemptAt")}`,
        leaseUntil: 0,
        leaseToken: null,
        lastError: sql`${p("lastError")}`,
      })
      .where(and(eq(refundOutbox.refundId, p("refundId")), eq(refundOutbox.leaseToken, p("token"))))
      .returning({ refundId: refundOutbox.refundId }),
  );
  const deleteSend = compile<{ refundId: string }>(
    db,
    db.delete(refundOutbox).where(eq(refundOutbox.refundId, p("refundId"))),
  );

  const page = (filter: ListFilter) => {
    const before = lt(payments.id, p("before"));
    const where: SQL = filter === "all" ? before : and(hasEffectiveStatus(payments, filter, p("now")), before)!;
    return compile<{ before: number; limit: number; now: number }>(
      db,
      db.select().from(payments).where(where).orderBy(desc(payments.id)).limit(p("limit")),
    );
  };
  const pages = { all: page("all"), paid: page("paid"), pending: page("pending"), expired: page("expired") };

  const byStatus = compile<{ now: number }>(
    db,
    db
      .select({ status: effectiveStatusColumn(payments, p("now")).as("status"), n: count().as("n") })
      .from(payments)
      .groupBy(sql`1`),
  );

  const findById = (id: number) => {
    const r = byId.all<RawPaymentRow>({ id })[0];
    return r && toRecord(r);
  };
  const findByBankPaymentId = (bankPaymentId: string) => {
    const r = byBankId.all<RawPaymentRow>({ bankPaymentId })[0];
    return r && toRecord(r);
  };
  const findPix = (endToEndId: string) => {
    const r = pixByE2e.all<RawReceivedPixRow>({ endToEndId })[0];
    return r && toReceivedPix(r);
  };
  const findRefund = (id: string) => {
    const r = refundById.all<RawRefundRow>({ id })[0];
    return r && toRefund(r);
  };

  const webhooks = createSqliteWebhookStore(db);

  // Set once the write being run made its change through createPayment or confirmPayment: the port allows it
  // reads after that, no other change (a PostgreSQL write runs that step by itself). Writes run synchronously,
  // one at a time, so one flag serves them all.
  let finalChanged = false;
  const steps: PaymentWrites = {
    ...webhooks.writes,
    createPayment: (payment, options) => {
      const outcome = runToEnd(() => createPaymentInSteps(tx, payment, options), tx);
      if (outcome.created) finalChanged = true;
      return done(outcome);
    },
    confirmPayment: (id, now, options) => {
      const outcome = runToEnd(() => confirmPaymentInSteps(tx, id, now, options), tx);
      if (outcome) finalChanged = true;
      return done(outcome);
    },
    findById: (id) => done(findById(id)),
    findByBankPaymentId: (bankPaymentId) => done(findByBankPaymentId(bankPaymentId)),
    insertPayment: (v) => {
      const row = toRecord(insertPayment.all<RawPaymentRow>({ ...v, metadata: metadataColumn(v.metadata) })[0]!);
      insertEvent.all({ paymentId: row.id, type: "created", at: row.createdAt });
      return done(row);
    },
    insertEvent: (v) => done(insertEvent.all<{ id: number }>(v)[0]!.id),
    markPaid: (id, now, endToEndId = null) => {
      const r = markPaid.all<RawPaymentRow>({ id, now, endToEndId })[0];
      if (r) insertEvent.all({ paymentId: r.id, type: "paid", at: now });
      return done(r && toRecord(r));
    },
    findByTxid: (txid) => {
      const r = byTxid.all<RawPaymentRow>({ txid })[0];
      return done(r && toRecord(r));
    },
    markDueExpired: (now, limit) => {
      const rows = markExpired.all<RawPaymentRow>({ now, limit });
      for (const r of rows) insertEvent.all({ paymentId: r.id, type: "expired", at: now });
      return done(rows.map(toRecord));
    },
    findIdempotencyKey: (merchant, key) => {
      const r = findIdempotency.all<{ request_hash: string; payment_id: number }>({ merchant, key })[0];
      return done(r && { requestHash: r.request_hash, paymentId: r.payment_id });
    },
    insertIdempotencyKey: (v) => {
      insertIdempotency.run(v);
      return done(undefined);
    },
    findWebhookReceipt: (webhookId) => {
      const r = findReceipt.all<{ payment_id: number }>({ webhookId })[0];
      return done(r && { paymentId: r.payment_id });
    },
    insertWebhookReceipt: (v) => {
      insertReceipt.run(v);
      return done(undefined);
    },
    pruneBefore: (before) => {
      pruneIdempotency.run({ before });
      pruneReceipts.run({ before });
      pruneRefundKeys.run({ before });
      return done(undefined);
    },
    claimReceivedPix: (v) => {
      const r = claimPix.all<RawReceivedPixRow>(v)[0];
      return done(r && toReceivedPix(r));
    },
    findReceivedPix: (endToEndId) => done(findPix(endToEndId)),
    setReceivedPixOutcome: (endToEndId, outcome) => {
      pixOutcome.run({ endToEndId, ...outcome });
      return done(undefined);
    },
    addPixRefunded: (endToEndId, cents) => {
      pixRefunded.run({ endToEndId, cents });
      return done(undefined);
    },
    reserveRefund: (id, cents) => {
      const r = reserve.all<RawPaymentRow>({ id, cents })[0];
      return done(r && toRecord(r));
    },
    releaseRefund: (id, cents) => done(toRecord(release.all<RawPaymentRow>({ id, cents })[0]!)),
    addRefunded: (id, cents) => done(toRecord(refundedMore.all<RawPaymentRow>({ id, cents })[0]!)),
    insertRefund: (v) => done(toRefund(insertRefund.all<RawRefundRow>(v)[0]!)),
    findRefund: (id) => done(findRefund(id)),
    settleRefund: (id, outcome) => {
      const r = settle.all<RawRefundRow>({ id, ...outcome })[0];
      return done(r && toRefund(r));
    },
    setRefundRtrId: (id, rtrId) => {
      setRtrId.run({ id, rtrId });
      return done(undefined);
    },
    findRefundIdempotencyKey: (merchant, key) => {
      const r = findRefundKey.all<{ request_hash: string; refund_id: string }>({ merchant, key })[0];
      return done(r && { requestHash: r.request_hash, refundId: r.refund_id });
    },
    insertRefundIdempotencyKey: (v) => {
      insertRefundKey.run(v);
      return done(undefined);
    },
    queueRefundSend: (v) => {
      queueSend.run(v);
      return done(undefined);
    },
    claimRefundSends: (v) =>
      done(
        claimSends
          .all<{ refund_id: string; phase: ClaimedRefundSend["phase"]; attempts: number }>(v)
          .map((r) => ({ refundId: r.refund_id, phase: r.phase, attempts: r.attempts })),
      ),
    rescheduleRefundSend: (v) => done(rescheduleSend.all(v).length === 1),
    deleteRefundSend: (refundId) => {
      deleteSend.run({ refundId });
      return done(undefined);
    },
  };
  const tx = Object.fromEntries(
    Object.entries(steps).map(([name, step]) => [
      name,
      READ_STEPS.has(name)
        ? step
        : (...args: unknown[]) => {
            if (finalChanged) throw new Error(CHANGE_AFTER_FINAL);
            return (step as (...a: unknown[]) => unknown)(...args);
          },
    ]),
  ) as unknown as PaymentWrites;

  const batch = createWriteBatcher(db.$client);

  /** Disk full, read-only, I/O errors: the domain's StorageUnavailable, and the storage hears of it. */
  const unavailable = (err: unknown): never => {
    if (isUnavailable(err)) options.onUnavailable?.(err);
    throw toStorageError(err);
  };
  const read = <T>(f: () => T): Promise<T> => {
    try {
      return Promise.resolve(f());
    } catch (err) {
      return unavailable(err);
    }
  };

  const webhookReads = Object.fromEntries(
    Object.entries(webhooks.reads).map(([name, f]) => [
      name,
      (...args: unknown[]) => (f as (...a: unknown[]) => Promise<unknown>)(...args).catch(unavailable),
    ]),
  ) as unknown as typeof webhooks.reads;

  return {
    ...webhookReads,
    findById: (id) => read(() => findById(id)),
    findByBankPaymentId: (bankPaymentId) => read(() => findByBankPaymentId(bankPaymentId)),
    list: (filter, v) => read(() => pages[filter].all<RawPaymentRow>(v).map(toRecord)),
    lastEventId: (bankPaymentId) => read(() => lastEvent.all<{ id: number }>({ bankPaymentId })[0]?.id ?? 0),
    countByStatus: (now) =>
      read(() => {
        const counts: Record<PaymentStatus, number> = { pending: 0, paid: 0, expired: 0 };
        for (const row of byStatus.all<{ status: PaymentStatus; n: number }>({ now })) counts[row.status] = row.n;
        return counts;
      }),
    listReceivedPix: (filter, v) => read(() => pixPages[filter].all<RawReceivedPixRow>(v).map(toReceivedPix)),
    findReceivedPix: (endToEndId) => read(() => findPix(endToEndId)),
    listRefunds: (paymentId) => read(() => refundsOf.all<RawRefundRow>({ paymentId }).map(toRefund)),
    findRefund: (id) => read(() => findRefund(id)),
    hasDueRefundSends: (now) => read(() => anyDueSend.all({ now }).length > 0),
    /**
     * Group-committed with the other writes of this event-loop turn: one BEGIN IMMEDIATE … COMMIT for
     * all, each in its own savepoint; settles after the shared COMMIT.
     */
    write: (fn) =>
      batch
        .run(() => {
          finalChanged = false;
          return runToEnd(fn, tx);
        })
        .catch(unavailable),
  };
}
