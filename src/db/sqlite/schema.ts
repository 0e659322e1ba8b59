import { sql } from "drizzle-orm";
import { check, index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** Payments. Amounts are integer cents; times are epoch milliseconds. */
export const payments = sqliteTable(
  "payments",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    bankPaymentId: text("bank_payment_id").notNull().unique(),
    amountCents: integer("amount_cents").notNull(),
    /** Stored status; a pending row past expires_at reads as expired (see the service). */
    status: text("status", { enum: ["pending", "paid", "expired"] })
      .notNull()
      .default("pending"),
    brCode: text("br_code").notNull(),
    createdAt: integer("created_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
    paidAt: integer("paid_at"),
    expiredAt: integer("expired_at"),
    /** What the charge is for, shown to the payer (CONTRACT §3). */
    description: text("description"),
    /** The merchant's string pairs as JSON text; NULL when none were given. Never shown to the payer. */
    metadata: text("metadata"),
    /** Where the checkout page links back to once paid. */
    returnUrl: text("return_url"),
  },
  (t) => [
    // newest-first listing filtered by status, and the expiry sweeper's scan of pending rows
    index("payments_status_id_idx").on(t.status, t.id),
    index("payments_status_expires_idx").on(t.status, t.expiresAt),
    check("payments_amount_positive", sql`${t.amountCents} > 0`),
  ],
);

/** Idempotency keys of POST /payments, scoped per API key, kept at least 24 h. */
export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    merchant: text("merchant").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    paymentId: integer("payment_id")
      .notNull()
      .references(() => payments.id),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.merchant, t.key] }), index("idempotency_keys_created_idx").on(t.createdAt)],
);

/** webhook-id values already applied, so a replayed delivery is not applied twice. */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    webhookId: text("webhook_id").primaryKey(),
    /** The payment the delivery confirmed; the id may not be reused for another payment. */
    paymentId: integer("payment_id")
      .notNull()
      .references(() => payments.id),
    receivedAt: integer("received_at").notNull(),
  },
  (t) => [index("webhook_deliveries_received_idx").on(t.receivedAt)],
);

/** Append-only log of what happened to each payment; its id orders events for resuming watchers. */
export const paymentEvents = sqliteTable(
  "payment_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    paymentId: integer("payment_id")
      .notNull()
      .references(() => payments.id),
    type: text("type", { enum: ["created", "paid", "expired"] }).notNull(),
    at: integer("at").notNull(),
  },
  (t) => [index("payment_events_payment_idx").on(t.paymentId, t.id)],
);

export type PaymentRow = typeof payments.$inferSelect;
export type PaymentEventRow = typeof paymentEvents.$inferSelect;
