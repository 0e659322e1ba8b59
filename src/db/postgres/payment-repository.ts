import type { SQL } from "bun";
import {
  and,
  count,
  desc,
  eq,
  getTableColumns,
  gt,
  is,
  lt,
  lte,
  Param,
  Placeholder,
  type SQL as SqlFragment,
  sql,
} from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sql";
import { StorageUnavailable } from "../../payments/errors.ts";
import type { PaymentStatus, ReceivedPix, Refund } from "../../payments/model.ts";
import {
  CHANGE_AFTER_FINAL,
  type ClaimedRefundSend,
  type ListFilter,
  type PaymentRecord,
  type PaymentRepository,
  type PaymentWrites,
  type ReceivedPixFilter,
  type WriteFn,
} from "../../payments/repository.ts";
import { effectiveStatusColumn, hasEffectiveStatus } from "../effective-status.ts";
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
import { final, type PgStep, query, type Runner, read } from "./steps.ts";
import { createPostgresWebhookStore, outboxCtes } from "./webhook-store.ts";

const p = sql.placeholder;

type Row = Record<string, unknown>;

/** A payments row as the driver returns it: bigint columns arrive as strings. */
interface RawPaymentRow {
  id: string;
  bank_payment_id: string;
  amount_cents: string;
  status: PaymentStatus;
  br_code: string;
  created_at: string;
  expires_at: string;
  paid_at: string | null;
  expired_at: string | null;
  description: string | null;
  metadata: string | null;
  return_url: string | null;
  end_to_end_id: string | null;
  refund_reserved_cents: string;
  refunded_cents: string;
}

interface RawReceivedPixRow {
  id: string;
  end_to_end_id: string;
  txid: string | null;
  amount_cents: string;
  received_at: string;
  payer_info: string | null;
  status: ReceivedPix["status"];
  reason: ReceivedPix["reason"];
  payment_id: string | null;
  refunded_cents: string;
}

interface RawRefundRow {
  id: string;
  payment_id: string;
  end_to_end_id: string | null;
  amount_cents: string;
  reason: string | null;
  status: Refund["status"];
  failure_reason: string | null;
  rtr_id: string | null;
  created_at: string;
  settled_at: string | null;
}

const num = (v: string | number | null) => (v === null ? null : Number(v));

const toReceivedPix = (r: RawReceivedPixRow): ReceivedPix => ({
  id: Number(r.id),
  endToEndId: r.end_to_end_id,
  txid: r.txid,
  amountCents: Number(r.amount_cents),
  receivedAt: Number(r.received_at),
  payerInfo: r.payer_info,
  status: r.status,
  reason: r.reason,
  paymentId: num(r.payment_id),
  refundedCents: Number(r.refunded_cents),
});

const toRefund = (r: RawRefundRow): Refund => ({
  id: r.id,
  paymentId: Number(r.payment_id),
  endToEndId: r.end_to_end_id,
  amountCents: Number(r.amount_cents),
  reason: r.reason,
  status: r.status,
  failureReason: r.failure_reason,
  rtrId: r.rtr_id,
  createdAt: Number(r.created_at),
  settledAt: num(r.settled_at),
});
const toRecord = (r: RawPaymentRow): PaymentRecord => ({
  id: Number(r.id),
  bankPaymentId: r.bank_payment_id,
  amountCents: Number(r.amount_cents),
  status: r.status,
  brCode: r.br_code,
  createdAt: Number(r.created_at),
  expiresAt: Number(r.expires_at),
  paidAt: num(r.paid_at),
  expiredAt: num(r.expired_at),
  description: r.description,
  metadata: r.metadata === null ? {} : (JSON.parse(r.metadata) as Record<string, string>),
  returnUrl: r.return_url,
  endToEndId: r.end_to_end_id,
  refundReservedCents: Number(r.refund_reserved_cents),
  refundedCents: Number(r.refunded_cents),
});

/** No metadata is stored as NULL, as in the SQLite adapter. */
const metadataColumn = (metadata: Record<string, string>) =>
  Object.keys(metadata).length === 0 ? null : JSON.stringify(metadata);

/**
 * Drizzle writes the SQL from the schema, once; Bun's client runs it with positional parameters, on the
 * pool or on a transaction's connection (a statement Drizzle prepared is tied to one of them).
 */
function compile<Values extends Record<string, unknown>>(query: { toSQL(): { sql: string; params: unknown[] } }) {
  const { sql: text, params } = query.toSQL();
  const slots: Array<{ name: keyof Values } | { value: unknown }> = params.map((param) => {
    const inner = is(param, Param) ? param.value : param;
    return is(inner, Placeholder) ? { name: inner.name as keyof Values } : { value: inner };
  });
  const bind = (values: Values) => slots.map((slot) => ("name" in slot ? values[slot.name] : slot.value));
  return <T = Row>(runner: Runner, values: Values) => runner.unsafe(text, bind(values)) as Promise<T[]>;
}

/**
 * A payments write and the payment's event as one statement: `changed` is the write (its own CTEs, if any,
 * come first), the event is inserted from its RETURNING rows with `at` from one of their columns, and the
 * statement returns what the write returned. One statement instead of two: on this driver each statement
 * costs the instance ~35–40 µs of CPU, more than PostgreSQL spends on it.
 */
function withEvent(
  query: { toSQL(): { sql: string; params: unknown[] } },
  type: "created" | "paid" | "expired",
  atColumn: "created_at" | "paid_at" | "expired_at",
) {
  return {
    toSQL() {
      const { sql: text, params } = query.toSQL();
      const split = text.startsWith("with ") ? text.indexOf(') update "payments"') : -1;
      const ctes = split >= 0 ? `${text.slice(5, split + 1)}, ` : "";
      const write = split >= 0 ? text.slice(split + 2) : text;
      return {
        sql:
          `WITH ${ctes}changed AS (${write}), event AS (INSERT INTO payment_events (payment_id, type, at) ` +
          `SELECT changed.id, '${type}', changed.${atColumn} FROM changed) SELECT * FROM changed`,
        params,
      };
    },
  };
}

/** Runs one step on `runner`, then resumes the write's generator with its result (or throws its error into it). */
async function advance<T>(
  it: Iterator<unknown, T, unknown>,
  step: PgStep<unknown>,
  runner: Runner,
): Promise<{ next: IteratorResult<unknown, T>; value?: unknown }> {
  let value: unknown;
  try {
    value = await step.run(runner);
  } catch (err) {
    if (!it.throw) throw err;
    return { next: it.throw(err) };
  }
  return { next: it.next(value), value };
}

/**
 * Runs a write's generator, step by step (see StepKind in steps.ts). Its reads run on the pool until its first
 * `write` step, which begins the transaction that everything after runs in; a `final` step met before any
 * transaction runs by itself, one autocommit statement, so a write that is reads and one final step (a create,
 * a confirmation, a claim) needs no BEGIN and COMMIT: on this driver those cost more than the statement.
 */
async function drive<T>(pool: SQL, fn: WriteFn<T>, writes: PaymentWrites): Promise<T> {
  const it = fn(writes)[Symbol.iterator]();
  let committed = false;
  let next = it.next();
  while (!next.done) {
    const step = next.value as PgStep<unknown>;
    if (committed && step.kind !== "read") {
      throw new Error(CHANGE_AFTER_FINAL);
    }
    if (step.kind === "write") {
      return pool.begin(async (tx) => {
        let current = step;
        for (;;) {
          const { next: after } = await advance(it, current, tx);
          if (after.done) return after.value;
          current = after.value as PgStep<unknown>;
        }
      });
    }
    const result = await advance(it, step, pool);
    if (step.kind === "final" && "value" in result && step.changed!(result.value)) committed = true;
    next = result.next;
  }
  return next.value;
}

/** SQLSTATEs after which the same write, run again from the start, can succeed. */
const RETRYABLE = new Set(["40001", "40P01", "23505"]);
const MAX_ATTEMPTS = 4;

/** Longest any one repository call may take before the caller is told the database is unavailable. */
export const QUERY_TIMEOUT_MS = 8000;

/**
 * True for failures of the database rather than of the request: no connection, a server shutting down or
 * out of resources, a read-only server. The request may succeed later (503), unlike a constraint error.
 */
export function isUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; errno?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  const state = typeof e?.errno === "string" ? e.errno : "";
  return (
    /^ERR_POSTGRES_(CONNECTION|IDLE_TIMEOUT|LIFETIME_TIMEOUT|TLS|AUTHENTICATION|UNSUPPORTED_AUTH)/.test(code) ||
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|ENOTFOUND)$/.test(code) ||
    /^(08|53|57|58)/.test(state) ||
    state === "25006"
  );
}

/** Runs one repository call within QUERY_TIMEOUT_MS, turning an outage into StorageUnavailable. */
async function guarded<T>(work: () => Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(StorageUnavailable(new Error("database call timed out"))), QUERY_TIMEOUT_MS);
  });
  try {
    return await Promise.race([work(), timeout]);
  } catch (err) {
    throw isUnavailable(err) ? StorageUnavailable(err) : err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The PostgreSQL adapter of the payment repository. A write's changes are one transaction (READ COMMITTED), or
 * one statement by itself when a final step makes them all (see `drive`): the confirmation's conditional
 * UPDATE … RETURNING re-checks its condition after waiting for a concurrent one, so exactly one wins; an
 * idempotency key is claimed by its primary key, so of two racing writes one commits and the other fails with a
 * unique violation and runs again, finding the key; the expiry sweep takes due rows with FOR UPDATE SKIP LOCKED,
 * so instances sweeping at once never take the same row.
 */
export function createPostgresPaymentRepository(pool: SQL): PaymentRepository {
  // Only to write SQL from the schema; statements run through `compile`.
  const db = drizzle({ client: pool });

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
    withEvent(
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
      "created",
      "created_at",
    ),
  );
  const insertEvent = compile<{ paymentId: number; type: string; at: number }>(
    db
      .insert(paymentEvents)
      .values({ paymentId: p("paymentId"), type: p("type"), at: p("at") })
      .returning({ id: paymentEvents.id }),
  );
  const byId = compile<{ id: number }>(
    db
      .select()
      .from(payments)
      .where(eq(payments.id, p("id"))),
  );
  const byBankId = compile<{ bankPaymentId: string }>(
    db
      .select()
      .from(payments)
      .where(eq(payments.bankPaymentId, p("bankPaymentId"))),
  );
  const lastEvent = compile<{ bankPaymentId: string }>(
    db
      .select({ id: sql<string>`coalesce(max(${paymentEvents.id}), 0)`.as("id") })
      .from(paymentEvents)
      .innerJoin(payments, eq(payments.id, paymentEvents.paymentId))
      .where(eq(payments.bankPaymentId, p("bankPaymentId"))),
  );
  const byTxid = compile<{ txid: string }>(
    db
      .select()
      .from(payments)
      .where(eq(payments.txid, p("txid"))),
  );
  const markPaid = compile<{ id: number; now: number; endToEndId: string | null }>(
    withEvent(
      db
        .update(payments)
        .set({ status: "paid", paidAt: sql`${p("now")}`, endToEndId: sql`${p("endToEndId")}` })
        .where(and(eq(payments.id, p("id")), eq(payments.status, "pending"), gt(payments.expiresAt, p("now"))))
        .returning(),
      "paid",
      "paid_at",
    ),
  );
  const due = and(eq(payments.status, "pending"), lte(payments.expiresAt, p("now")));
  // The due rows are picked in a CTE: an IN (subquery … LIMIT … FOR UPDATE SKIP LOCKED) may be run more than
  // once by the planner and then takes more than `limit` rows.
  const dueRows = db
    .$with("due")
    .as(
      db
        .select({ id: payments.id })
        .from(payments)
        .where(due)
        .orderBy(payments.id)
        .limit(p("limit"))
        .for("update", { skipLocked: true }),
    );
  const markExpired = compile<{ now: number; limit: number }>(
    withEvent(
      db
        .with(dueRows)
        .update(payments)
        .set({ status: "expired", expiredAt: sql`${p("now")}` })
        .from(dueRows)
        .where(and(eq(payments.id, dueRows.id), due))
        .returning(getTableColumns(payments)),
      "expired",
      "expired_at",
    ),
  );
  const findIdempotency = compile<{ merchant: string; key: string }>(
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
    db.insert(idempotencyKeys).values({
      merchant: p("merchant"),
      key: p("key"),
      requestHash: p("requestHash"),
      paymentId: p("paymentId"),
      createdAt: p("createdAt"),
    }),
  );
  const findReceipt = compile<{ webhookId: string }>(
    db
      .select({ paymentId: webhookDeliveries.paymentId })
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.webhookId, p("webhookId"))),
  );
  const insertReceipt = compile<{ webhookId: string; paymentId: number; receivedAt: number }>(
    db.insert(webhookDeliveries).values({
      webhookId: p("webhookId"),
      paymentId: p("paymentId"),
      receivedAt: p("receivedAt"),
    }),
  );
  const pruneIdempotency = compile<{ before: number }>(
    db.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, p("before"))),
  );
  const pruneReceipts = compile<{ before: number }>(
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
    // ON CONFLICT DO NOTHING waits for a rival insert of the same endToEndId and then skips: no retry needed.
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
    db
      .select()
      .from(receivedPix)
      .where(eq(receivedPix.endToEndId, p("endToEndId"))),
  );
  const pixOutcome = compile<{ endToEndId: string; status: string; reason: string | null; paymentId: number | null }>(
    db
      .update(receivedPix)
      .set({ status: sql`${p("status")}`, reason: sql`${p("reason")}`, paymentId: sql`${p("paymentId")}` })
      .where(eq(receivedPix.endToEndId, p("endToEndId"))),
  );
  const pixRefunded = compile<{ endToEndId: string; cents: number }>(
    db
      .update(receivedPix)
      .set({ refundedCents: sql`${receivedPix.refundedCents} + ${p("cents")}` })
      .where(eq(receivedPix.endToEndId, p("endToEndId"))),
  );
  const pixPage = (filter: ReceivedPixFilter) => {
    const before = lt(receivedPix.id, p("before"));
    const where = filter === "all" ? before : and(eq(receivedPix.status, filter), before);
    return compile<{ before: number; limit: number }>(
      db.select().from(receivedPix).where(where).orderBy(desc(receivedPix.id)).limit(p("limit")),
    );
  };
  const pixPages = { all: pixPage("all"), matched: pixPage("matched"), unmatched: pixPage("unmatched") };

  // The refund's one conditional write. A rival's UPDATE of the row makes this one wait, and then re-check
  // the condition against the rival's committed counter, so two refunds can never both fit past the amount.
  const reserve = compile<{ id: number; cents: number }>(
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
    db
      .update(payments)
      .set({ refundReservedCents: sql`${payments.refundReservedCents} - ${p("cents")}` })
      .where(eq(payments.id, p("id")))
      .returning(),
  );
  const refundedMore = compile<{ id: number; cents: number }>(
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
    db
      .select()
      .from(refunds)
      .where(eq(refunds.id, p("id"))),
  );
  const refundsOf = compile<{ paymentId: number }>(
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
    db
      .update(refunds)
      .set({ rtrId: sql`${p("rtrId")}` })
      .where(eq(refunds.id, p("id"))),
  );
  const findRefundKey = compile<{ merchant: string; key: string }>(
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
    db.insert(refundIdempotencyKeys).values({
      merchant: p("merchant"),
      key: p("key"),
      requestHash: p("requestHash"),
      refundId: p("refundId"),
      createdAt: p("createdAt"),
    }),
  );
  const pruneRefundKeys = compile<{ before: number }>(
    db.delete(refundIdempotencyKeys).where(lt(refundIdempotencyKeys.createdAt, p("before"))),
  );
  const queueSend = compile<{ refundId: string; nextAttemptAt: number }>(
    db.insert(refundOutbox).values({ refundId: p("refundId"), phase: "send", nextAttemptAt: p("nextAttemptAt") }),
  );
  const dueSend = and(lte(refundOutbox.nextAttemptAt, p("now")), lte(refundOutbox.leaseUntil, p("now")));
  const anyDueSend = compile<{ now: number }>(
    db.select({ refundId: refundOutbox.refundId }).from(refundOutbox).where(dueSend).limit(1),
  );
  // As the expiry sweep: due rows picked in a CTE with SKIP LOCKED (never an IN (subquery … SKIP LOCKED), which
  // the planner may run more than once and so lease more than `limit`), and the condition checked again.
  const dueSends = db
    .$with("due_sends")
    .as(
      db
        .select({ id: refundOutbox.refundId })
        .from(refundOutbox)
        .where(dueSend)
        .orderBy(refundOutbox.nextAttemptAt)
        .limit(p("limit"))
        .for("update", { skipLocked: true }),
    );
  const claimSends = compile<{ now: number; leaseUntil: number; token: string; limit: number }>(
    db
      .with(dueSends)
      .update(refundOutbox)
      .set({
        leaseUntil: sql`${p("leaseUntil")}`,
        leaseToken: sql`${p("token")}`,
        attempts: sql`${refundOutbox.attempts} + 1`,
      })
      .from(dueSends)
      .where(and(eq(refundOutbox.refundId, dueSends.id), dueSend))
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
    db.delete(refundOutbox).where(eq(refundOutbox.refundId, p("refundId"))),
  );

  const page = (filter: ListFilter) => {
    const before = lt(payments.id, p("before"));
    const where: SqlFragment = filter === "all" ? before : and(hasEffectiveStatus(payments, filter, p("now")), before)!;
    return compile<{ before: number; limit: number; now: number }>(
      db.select().from(payments).where(where).orderBy(desc(payments.id)).limit(p("limit")),
    );
  };
  const pages = { all: page("all"), paid: page("paid"), pending: page("pending"), expired: page("expired") };
  const byStatus = compile<{ now: number }>(
    db
      .select({ status: effectiveStatusColumn(payments, p("now")).as("status"), n: count().as("n") })
      .from(payments)
      .groupBy(sql`1`),
  );

  // A create as one statement: the key looked up, and unless it is claimed the payment, its event, the key's
  // claim and the merchant-webhook outbox's rows. One row comes back: the payment, or the claim that was kept.
  const createText = `
    WITH kept AS (
      SELECT request_hash, payment_id FROM idempotency_keys WHERE $9::text IS NOT NULL AND merchant = $9 AND key = $10
    ), changed AS (
      INSERT INTO payments (bank_payment_id, amount_cents, status, br_code, created_at, expires_at, description,
                            metadata, return_url)
      SELECT $1::text, $2::bigint, 'pending', $3::text, $4::bigint, $5::bigint, $6::text, $7::text, $8::text
      WHERE NOT EXISTS (SELECT 1 FROM kept)
      RETURNING *
    ), event AS (
      INSERT INTO payment_events (payment_id, type, at) SELECT id, 'created', created_at FROM changed
    ), claim AS (
      INSERT INTO idempotency_keys (merchant, key, request_hash, payment_id, created_at)
      SELECT $9, $10, $11, id, created_at FROM changed WHERE $9::text IS NOT NULL
    ), ${outboxCtes({
      id: "$12::text",
      type: "$13",
      payload: "$14::text || changed.id || $15::text",
      createdAt: "changed.created_at",
      dueAt: "$16::bigint",
      from: "changed",
    })}
    SELECT changed.*, kept.request_hash AS kept_request_hash, kept.payment_id AS kept_payment_id,
           (SELECT count(*) FROM queued) AS queued
    FROM (SELECT 1) AS one LEFT JOIN changed ON true LEFT JOIN kept ON true`;
  // A confirmation's change as one statement: the conditional UPDATE, its event, the inbound receipt and the outbox.
  const confirmText = `
    WITH changed AS (
      UPDATE payments SET status = 'paid', paid_at = $2::bigint, end_to_end_id = NULL
      WHERE id = $1::bigint AND status = 'pending' AND expires_at > $2::bigint
      RETURNING *
    ), event AS (
      INSERT INTO payment_events (payment_id, type, at) SELECT id, 'paid', paid_at FROM changed
    ), receipt AS (
      INSERT INTO webhook_deliveries (webhook_id, payment_id, received_at)
      SELECT $3::text, id, paid_at FROM changed WHERE $3::text IS NOT NULL
    ), ${outboxCtes({
      id: "$4::text",
      type: "$5",
      payload: "$6::text",
      createdAt: "changed.paid_at",
      dueAt: "$7::bigint",
      from: "changed",
    })}
    SELECT changed.*, (SELECT count(*) FROM queued) AS queued FROM changed`;

  const first = async (rows: Promise<RawPaymentRow[]>) => {
    const r = (await rows)[0];
    return r && toRecord(r);
  };
  const firstPix = async (rows: Promise<RawReceivedPixRow[]>) => {
    const r = (await rows)[0];
    return r && toReceivedPix(r);
  };
  const firstRefund = async (rows: Promise<RawRefundRow[]>) => {
    const r = (await rows)[0];
    return r && toRefund(r);
  };

  /** The steps of a write, on its transaction's connection. */
  const webhooks = createPostgresWebhookStore(pool);
  const webhookReads = Object.fromEntries(
    Object.entries(webhooks.reads).map(([name, f]) => [
      name,
      (...args: unknown[]) => guarded(() => (f as (...a: unknown[]) => Promise<unknown>)(...args)),
    ]),
  ) as unknown as typeof webhooks.reads;

  const writes: PaymentWrites = {
    ...webhooks.writes,
    findById: (id) => read((tx) => first(byId(tx, { id }))),
    findByBankPaymentId: (bankPaymentId) => read((tx) => first(byBankId(tx, { bankPaymentId }))),
    insertPayment: (v) =>
      query(async (tx) =>
        toRecord((await insertPayment<RawPaymentRow>(tx, { ...v, metadata: metadataColumn(v.metadata) }))[0]!),
      ),
    createPayment: (v, { idempotencyKey: claim, webhookEvent: e }) =>
      final(
        async (tx) => {
          const [r] = (await tx.unsafe(createText, [
            v.bankPaymentId,
            v.amountCents,
            v.brCode,
            v.createdAt,
            v.expiresAt,
            v.description,
            metadataColumn(v.metadata),
            v.returnUrl,
            claim?.merchant ?? null,
            claim?.key ?? null,
            claim?.requestHash ?? null,
            e.id,
            e.type,
            e.payloadBefore,
            e.payloadAfter,
            e.dueAt,
          ])) as Array<
            RawPaymentRow & { kept_request_hash: string | null; kept_payment_id: string | null; queued: string }
          >;
          if (r!.kept_request_hash !== null) {
            return {
              created: false,
              kept: { requestHash: r!.kept_request_hash, paymentId: Number(r!.kept_payment_id) },
            };
          }
          return { created: true, row: toRecord(r!), queued: Number(r!.queued) };
        },
        (outcome) => outcome.created,
      ),
    confirmPayment: (id, now, { webhookEvent: e, receipt }) =>
      final(
        async (tx) => {
          const [r] = (await tx.unsafe(confirmText, [
            id,
            now,
            receipt?.webhookId ?? null,
            e.id,
            e.type,
            e.payload,
            e.dueAt,
          ])) as Array<RawPaymentRow & { queued: string }>;
          return r && { row: toRecord(r), queued: Number(r.queued) };
        },
        (outcome) => outcome !== undefined,
      ),
    insertEvent: (v) => query(async (tx) => Number((await insertEvent<{ id: string }>(tx, v))[0]!.id)),
    markPaid: (id, now, endToEndId = null) => query((tx) => first(markPaid(tx, { id, now, endToEndId }))),
    findByTxid: (txid) => read((tx) => first(byTxid(tx, { txid }))),
    markDueExpired: (now, limit) =>
      query(async (tx) => (await markExpired<RawPaymentRow>(tx, { now, limit })).map(toRecord)),
    findIdempotencyKey: (merchant, key) =>
      read(async (tx) => {
        const r = (await findIdempotency<{ request_hash: string; payment_id: string }>(tx, { merchant, key }))[0];
        return r && { requestHash: r.request_hash, paymentId: Number(r.payment_id) };
      }),
    insertIdempotencyKey: (v) => query(async (tx) => void (await insertIdempotency(tx, v))),
    findWebhookReceipt: (webhookId) =>
      read(async (tx) => {
        const r = (await findReceipt<{ payment_id: string }>(tx, { webhookId }))[0];
        return r && { paymentId: Number(r.payment_id) };
      }),
    insertWebhookReceipt: (v) => query(async (tx) => void (await insertReceipt(tx, v))),
    pruneBefore: (before) =>
      query(async (tx) => {
        await pruneIdempotency(tx, { before });
        await pruneReceipts(tx, { before });
        await pruneRefundKeys(tx, { before });
      }),
    claimReceivedPix: (v) => query((tx) => firstPix(claimPix(tx, v))),
    findReceivedPix: (endToEndId) => read((tx) => firstPix(pixByE2e(tx, { endToEndId }))),
    setReceivedPixOutcome: (endToEndId, outcome) =>
      query(async (tx) => void (await pixOutcome(tx, { endToEndId, ...outcome }))),
    addPixRefunded: (endToEndId, cents) => query(async (tx) => void (await pixRefunded(tx, { endToEndId, cents }))),
    reserveRefund: (id, cents) => query((tx) => first(reserve(tx, { id, cents }))),
    releaseRefund: (id, cents) => query(async (tx) => (await first(release(tx, { id, cents })))!),
    addRefunded: (id, cents) => query(async (tx) => (await first(refundedMore(tx, { id, cents })))!),
    insertRefund: (v) => query(async (tx) => (await firstRefund(insertRefund(tx, v)))!),
    findRefund: (id) => read((tx) => firstRefund(refundById(tx, { id }))),
    settleRefund: (id, outcome) => query((tx) => firstRefund(settle(tx, { id, ...outcome }))),
    setRefundRtrId: (id, rtrId) => query(async (tx) => void (await setRtrId(tx, { id, rtrId }))),
    findRefundIdempotencyKey: (merchant, key) =>
      read(async (tx) => {
        const r = (await findRefundKey<{ request_hash: string; refund_id: string }>(tx, { merchant, key }))[0];
        return r && { requestHash: r.request_hash, refundId: r.refund_id };
      }),
    insertRefundIdempotencyKey: (v) => query(async (tx) => void (await insertRefundKey(tx, v))),
    queueRefundSend: (v) => query(async (tx) => void (await queueSend(tx, v))),
    claimRefundSends: (v) =>
      query(async (tx) =>
        (await claimSends<{ refund_id: string; phase: ClaimedRefundSend["phase"]; attempts: string }>(tx, v)).map(
          (r) => ({ refundId: r.refund_id, phase: r.phase, attempts: Number(r.attempts) }),
        ),
      ),
    rescheduleRefundSend: (v) => query(async (tx) => (await rescheduleSend(tx, v)).length === 1),
    deleteRefundSend: (refundId) => query(async (tx) => void (await deleteSend(tx, { refundId }))),
  };

  return {
    ...webhookReads,
    findById: (id) => guarded(() => first(byId(pool, { id }))),
    findByBankPaymentId: (bankPaymentId) => guarded(() => first(byBankId(pool, { bankPaymentId }))),
    list: (filter, v) => guarded(async () => (await pages[filter]<RawPaymentRow>(pool, v)).map(toRecord)),
    lastEventId: (bankPaymentId) =>
      guarded(async () => Number((await lastEvent<{ id: string }>(pool, { bankPaymentId }))[0]?.id ?? 0)),
    countByStatus: (now) =>
      guarded(async () => {
        const counts: Record<PaymentStatus, number> = { pending: 0, paid: 0, expired: 0 };
        for (const row of await byStatus<{ status: PaymentStatus; n: string }>(pool, { now })) {
          counts[row.status] = Number(row.n);
        }
        return counts;
      }),
    listReceivedPix: (filter, v) =>
      guarded(async () => (await pixPages[filter]<RawReceivedPixRow>(pool, v)).map(toReceivedPix)),
    findReceivedPix: (endToEndId) => guarded(() => firstPix(pixByE2e(pool, { endToEndId }))),
    listRefunds: (paymentId) => guarded(async () => (await refundsOf<RawRefundRow>(pool, { paymentId })).map(toRefund)),
    findRefund: (id) => guarded(() => firstRefund(refundById(pool, { id }))),
    hasDueRefundSends: (now) => guarded(async () => (await anyDueSend(pool, { now })).length > 0),
    write: (fn) =>
      guarded(async () => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await drive(pool, fn, writes);
          } catch (err) {
            const state = (err as { errno?: unknown }).errno;
            if (attempt >= MAX_ATTEMPTS || typeof state !== "string" || !RETRYABLE.has(state)) throw err;
          }
        }
      }),
  };
}
