import { and, desc, eq, gt, lt, lte, or, sql } from "drizzle-orm";
import type { Db } from "../db/client.ts";
import { idempotencyKeys, paymentEvents, payments, webhookDeliveries, type PaymentRow } from "../db/schema.ts";

const p = sql.placeholder;

/** Status filters of the list; "pending" and "expired" are effective statuses (expiry read at `now`). */
export type ListFilter = "all" | "pending" | "paid" | "expired";

/**
 * Every query the payment service runs, prepared once: Drizzle's bun-sqlite session would otherwise
 * re-prepare the SQL on each call. Statements with RETURNING or several rows run with .all() so none is
 * left mid-step holding a read snapshot (which stops WAL checkpoints).
 */
export function createPaymentRepository(db: Db) {
  const insertPayment = db
    .insert(payments)
    .values({
      bankPaymentId: p("bankPaymentId"),
      amountCents: p("amountCents"),
      status: "pending",
      brCode: p("brCode"),
      createdAt: p("createdAt"),
      expiresAt: p("expiresAt"),
    })
    .returning()
    .prepare();

  const insertEvent = db
    .insert(paymentEvents)
    .values({ paymentId: p("paymentId"), type: p("type"), at: p("at") })
    .returning({ id: paymentEvents.id })
    .prepare();

  const byId = db.select().from(payments).where(eq(payments.id, p("id"))).prepare();
  const byBankId = db.select().from(payments).where(eq(payments.bankPaymentId, p("bankPaymentId"))).prepare();

  const markPaid = db
    .update(payments)
    .set({ status: "paid", paidAt: sql`${p("now")}` })
    .where(and(eq(payments.id, p("id")), eq(payments.status, "pending"), gt(payments.expiresAt, p("now"))))
    .returning()
    .prepare();

  const markExpired = db
    .update(payments)
    .set({ status: "expired", expiredAt: sql`${p("now")}` })
    .where(and(eq(payments.status, "pending"), lte(payments.expiresAt, p("now"))))
    .returning()
    .prepare();

  const findIdempotency = db
    .select()
    .from(idempotencyKeys)
    .where(and(eq(idempotencyKeys.merchant, p("merchant")), eq(idempotencyKeys.key, p("key"))))
    .prepare();
  const insertIdempotency = db
    .insert(idempotencyKeys)
    .values({
      merchant: p("merchant"),
      key: p("key"),
      requestHash: p("requestHash"),
      paymentId: p("paymentId"),
      createdAt: p("createdAt"),
    })
    .prepare();
  const pruneIdempotency = db.delete(idempotencyKeys).where(lt(idempotencyKeys.createdAt, p("before"))).prepare();

  const findDelivery = db
    .select()
    .from(webhookDeliveries)
    .where(eq(webhookDeliveries.webhookId, p("webhookId")))
    .prepare();
  const insertDelivery = db
    .insert(webhookDeliveries)
    .values({ webhookId: p("webhookId"), paymentId: p("paymentId"), receivedAt: p("receivedAt") })
    .prepare();
  const pruneDeliveries = db.delete(webhookDeliveries).where(lt(webhookDeliveries.receivedAt, p("before"))).prepare();

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
                or(eq(payments.status, "expired"), and(eq(payments.status, "pending"), lte(payments.expiresAt, p("now")))),
                before,
              );
    return db.select().from(payments).where(where).orderBy(desc(payments.id)).limit(p("limit")).prepare();
  };
  const pages = { all: page("all"), paid: page("paid"), pending: page("pending"), expired: page("expired") };

  return {
    insertPayment: (v: {
      bankPaymentId: string;
      amountCents: number;
      brCode: string;
      createdAt: number;
      expiresAt: number;
    }): PaymentRow => insertPayment.all(v)[0]!,
    insertEvent: (v: { paymentId: number; type: "created" | "paid" | "expired"; at: number }): number =>
      insertEvent.all(v)[0]!.id,
    findById: (id: number): PaymentRow | undefined => byId.all({ id })[0],
    findByBankPaymentId: (bankPaymentId: string): PaymentRow | undefined => byBankId.all({ bankPaymentId })[0],
    /** The single conditional update that makes a confirmation happen exactly once. */
    markPaid: (id: number, now: number): PaymentRow | undefined => markPaid.all({ id, now })[0],
    markDueExpired: (now: number): PaymentRow[] => markExpired.all({ now }),
    findIdempotencyKey: (merchant: string, key: string) => findIdempotency.all({ merchant, key })[0],
    insertIdempotencyKey: (v: {
      merchant: string;
      key: string;
      requestHash: string;
      paymentId: number;
      createdAt: number;
    }) => insertIdempotency.run(v),
    findWebhookDelivery: (webhookId: string) => findDelivery.all({ webhookId })[0],
    insertWebhookDelivery: (v: { webhookId: string; paymentId: number; receivedAt: number }) => insertDelivery.run(v),
    pruneBefore: (before: number) => {
      pruneIdempotency.run({ before });
      pruneDeliveries.run({ before });
    },
    list: (filter: ListFilter, v: { before: number; limit: number; now: number }): PaymentRow[] =>
      filter === "all" || filter === "paid"
        ? pages[filter].all({ before: v.before, limit: v.limit })
        : pages[filter].all(v),
    /** Runs fn in one BEGIN IMMEDIATE transaction, so check-then-write is atomic across processes. */
    transaction: <T>(fn: () => T): T => db.transaction(() => fn(), { behavior: "immediate" }),
  };
}

export type PaymentRepository = ReturnType<typeof createPaymentRepository>;
