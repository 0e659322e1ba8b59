import type { SQLQueryBindings, Statement } from "bun:sqlite";
import { and, desc, eq, gt, is, lt, lte, or, Param, Placeholder, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { idempotencyKeys, type PaymentRow, paymentEvents, payments, webhookDeliveries } from "../db/schema.ts";
import { createWriteBatcher } from "../db/write-batch.ts";

const p = sql.placeholder;

/** A payments row as bun:sqlite returns it (column names of src/db/schema.ts). */
interface RawPaymentRow {
  id: number;
  bank_payment_id: string;
  amount_cents: number;
  status: PaymentRow["status"];
  br_code: string;
  created_at: number;
  expires_at: number;
  paid_at: number | null;
  expired_at: number | null;
}

const toRow = (r: RawPaymentRow): PaymentRow => ({
  id: r.id,
  bankPaymentId: r.bank_payment_id,
  amountCents: r.amount_cents,
  status: r.status,
  brCode: r.br_code,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  paidAt: r.paid_at,
  expiredAt: r.expired_at,
});

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

/** Status filters of the list; "pending" and "expired" are effective statuses (expiry read at `now`). */
export type ListFilter = "all" | "pending" | "paid" | "expired";

/**
 * Every query the payment service runs, prepared once (see compile). Statements with RETURNING or
 * several rows run with .all() so none is left mid-step holding a read snapshot (which stops WAL
 * checkpoints).
 */
export function createPaymentRepository(db: Db) {
  const insertPayment = compile<{
    bankPaymentId: string;
    amountCents: number;
    brCode: string;
    createdAt: number;
    expiresAt: number;
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

  const markPaid = compile<{ id: number; now: number }>(
    db,
    db
      .update(payments)
      .set({ status: "paid", paidAt: sql`${p("now")}` })
      .where(and(eq(payments.id, p("id")), eq(payments.status, "pending"), gt(payments.expiresAt, p("now"))))
      .returning(),
  );

  const markExpired = compile<{ now: number }>(
    db,
    db
      .update(payments)
      .set({ status: "expired", expiredAt: sql`${p("now")}` })
      .where(and(eq(payments.status, "pending"), lte(payments.expiresAt, p("now"))))
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
  const pruneIdempotency = compile<{ before: number }>(
    db,
    db.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, p("before"))),
  );

  const findDelivery = compile<{ webhookId: string }>(
    db,
    db
      .select({ paymentId: webhookDeliveries.paymentId })
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.webhookId, p("webhookId"))),
  );
  const insertDelivery = compile<{ webhookId: string; paymentId: number; receivedAt: number }>(
    db,
    db
      .insert(webhookDeliveries)
      .values({ webhookId: p("webhookId"), paymentId: p("paymentId"), receivedAt: p("receivedAt") }),
  );
  const pruneDeliveries = compile<{ before: number }>(
    db,
    db.delete(webhookDeliveries).where(lt(webhookDeliveries.receivedAt, p("before"))),
  );

  const page = (filter: ListFilter) => {
    const before = lt(payments.id, p("before"));
    const where =
      filter === "all"
        ? before
        : filter === "paid"
          ? and(eq(payments.status, "paid"), before)
          : filter === "pending"
            ? and(eq(payments.status, "pending"), gt(payments.expiresAt, p("now")), before)
            : and(
                or(
                  eq(payments.status, "expired"),
                  and(eq(payments.status, "pending"), lte(payments.expiresAt, p("now"))),
                ),
                before,
              );
    return compile<{ before: number; limit: number; now: number }>(
      db,
      db.select().from(payments).where(where).orderBy(desc(payments.id)).limit(p("limit")),
    );
  };
  const pages = { all: page("all"), paid: page("paid"), pending: page("pending"), expired: page("expired") };

  // bun:sqlite compiles the BEGIN IMMEDIATE / COMMIT / ROLLBACK wrapper once; Drizzle's would build a
  // transaction object and a new wrapper on every call. Nested calls become savepoints, as before.
  const immediate = db.$client.transaction((fn: () => unknown) => fn());
  const batch = createWriteBatcher(db.$client);

  return {
    insertPayment: (v: {
      bankPaymentId: string;
      amountCents: number;
      brCode: string;
      createdAt: number;
      expiresAt: number;
    }): PaymentRow => toRow(insertPayment.all<RawPaymentRow>(v)[0]!),
    insertEvent: (v: { paymentId: number; type: "created" | "paid" | "expired"; at: number }): number =>
      insertEvent.all<{ id: number }>(v)[0]!.id,
    findById: (id: number): PaymentRow | undefined => {
      const r = byId.all<RawPaymentRow>({ id })[0];
      return r && toRow(r);
    },
    findByBankPaymentId: (bankPaymentId: string): PaymentRow | undefined => {
      const r = byBankId.all<RawPaymentRow>({ bankPaymentId })[0];
      return r && toRow(r);
    },
    /** The single conditional update that makes a confirmation happen exactly once. */
    markPaid: (id: number, now: number): PaymentRow | undefined => {
      const r = markPaid.all<RawPaymentRow>({ id, now })[0];
      return r && toRow(r);
    },
    markDueExpired: (now: number): PaymentRow[] => markExpired.all<RawPaymentRow>({ now }).map(toRow),
    findIdempotencyKey: (merchant: string, key: string): { requestHash: string; paymentId: number } | undefined => {
      const r = findIdempotency.all<{ request_hash: string; payment_id: number }>({ merchant, key })[0];
      return r && { requestHash: r.request_hash, paymentId: r.payment_id };
    },
    insertIdempotencyKey: (v: {
      merchant: string;
      key: string;
      requestHash: string;
      paymentId: number;
      createdAt: number;
    }) => insertIdempotency.run(v),
    findWebhookDelivery: (webhookId: string): { paymentId: number } | undefined => {
      const r = findDelivery.all<{ payment_id: number }>({ webhookId })[0];
      return r && { paymentId: r.payment_id };
    },
    insertWebhookDelivery: (v: { webhookId: string; paymentId: number; receivedAt: number }) => insertDelivery.run(v),
    pruneBefore: (before: number) => {
      pruneIdempotency.run({ before });
      pruneDeliveries.run({ before });
    },
    list: (filter: ListFilter, v: { before: number; limit: number; now: number }): PaymentRow[] =>
      pages[filter].all<RawPaymentRow>(v).map(toRow),
    /** Runs fn in one BEGIN IMMEDIATE transaction, so check-then-write is atomic across processes. */
    transaction: <T>(fn: () => T): T => immediate.immediate(fn) as T,
    /**
     * Runs fn like transaction(), but group-committed with the other writes of this event-loop turn
     * (src/db/write-batch.ts); settles after the shared COMMIT.
     */
    write: <T>(fn: () => T): Promise<T> => batch.run(fn),
  };
}

export type PaymentRepository = ReturnType<typeof createPaymentRepository>;
