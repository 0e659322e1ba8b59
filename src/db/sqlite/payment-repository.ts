import type { SQLQueryBindings, Statement } from "bun:sqlite";
import { and, count, desc, eq, gt, inArray, is, lt, lte, Param, Placeholder, type SQL, sql } from "drizzle-orm";
import type { PaymentStatus } from "../../payments/model.ts";
import type {
  ListFilter,
  PaymentRecord,
  PaymentRepository,
  PaymentWrites,
  Step,
  WriteFn,
} from "../../payments/repository.ts";
import { effectiveStatusColumn, hasEffectiveStatus } from "../effective-status.ts";
import type { Db } from "./client.ts";
import { isUnavailable, toStorageError } from "./errors.ts";
import { idempotencyKeys, paymentEvents, payments, webhookDeliveries } from "./schema.ts";
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
}

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

/** A step that is already done: bun:sqlite answers synchronously, so a SQLite write never waits. */
function done<T>(value: T): Step<T> {
  return { [Symbol.iterator]: () => ({ next: () => ({ done: true, value }) }) };
}

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

  const markPaid = compile<{ id: number; now: number }>(
    db,
    db
      .update(payments)
      .set({ status: "paid", paidAt: sql`${p("now")}` })
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

  const tx: PaymentWrites = {
    findById: (id) => done(findById(id)),
    findByBankPaymentId: (bankPaymentId) => done(findByBankPaymentId(bankPaymentId)),
    insertPayment: (v) =>
      done(toRecord(insertPayment.all<RawPaymentRow>({ ...v, metadata: metadataColumn(v.metadata) })[0]!)),
    insertEvent: (v) => done(insertEvent.all<{ id: number }>(v)[0]!.id),
    markPaid: (id, now) => {
      const r = markPaid.all<RawPaymentRow>({ id, now })[0];
      return done(r && toRecord(r));
    },
    markDueExpired: (now, limit) => done(markExpired.all<RawPaymentRow>({ now, limit }).map(toRecord)),
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
      return done(undefined);
    },
  };

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

  return {
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
    /**
     * Group-committed with the other writes of this event-loop turn: one BEGIN IMMEDIATE … COMMIT for
     * all, each in its own savepoint; settles after the shared COMMIT.
     */
    write: (fn) => batch.run(() => runToEnd(fn, tx)).catch(unavailable),
  };
}
