import { sql } from "drizzle-orm";
import { bigint, bigserial, check, index, pgTable, primaryKey, text } from "drizzle-orm/pg-core";

/**
 * The PostgreSQL form of src/db/sqlite/schema.ts: the same tables, columns, constraints and indexes.
 * Amounts are integer cents and times epoch milliseconds, both `bigint` read as JavaScript numbers (every
 * value fits in 2^53: cents up to 999,999,999,999, milliseconds until the year 285,616).
 */
const millis = (name: string) => bigint(name, { mode: "number" });

export const payments = pgTable(
  "payments",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    bankPaymentId: text("bank_payment_id").notNull().unique(),
    amountCents: bigint("amount_cents", { mode: "number" }).notNull(),
    /** Stored status; a pending row past expires_at reads as expired (see the service). */
    status: text("status", { enum: ["pending", "paid", "expired"] })
      .notNull()
      .default("pending"),
    brCode: text("br_code").notNull(),
    createdAt: millis("created_at").notNull(),
    expiresAt: millis("expires_at").notNull(),
    paidAt: millis("paid_at"),
    expiredAt: millis("expired_at"),
    /** What the charge is for, shown to the payer (CONTRACT §3). */
    description: text("description"),
    /**
     * The merchant's string pairs as JSON text (not jsonb, which would reorder the keys: they are returned as
     * given); NULL when none were given. Never shown to the payer.
     */
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
export const idempotencyKeys = pgTable(
  "idempotency_keys",
  {
    merchant: text("merchant").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    paymentId: bigint("payment_id", { mode: "number" })
      .notNull()
      .references(() => payments.id),
    createdAt: millis("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.merchant, t.key] }), index("idempotency_keys_created_idx").on(t.createdAt)],
);

/** webhook-id values already applied, so a replayed delivery is not applied twice. */
export const webhookDeliveries = pgTable(
  "webhook_deliveries",
  {
    webhookId: text("webhook_id").primaryKey(),
    /** The payment the delivery confirmed; the id may not be reused for another payment. */
    paymentId: bigint("payment_id", { mode: "number" })
      .notNull()
      .references(() => payments.id),
    receivedAt: millis("received_at").notNull(),
  },
  (t) => [index("webhook_deliveries_received_idx").on(t.receivedAt)],
);

/** Append-only log of what happened to each payment; its id orders events for resuming watchers. */
export const paymentEvents = pgTable(
  "payment_events",
  {
    id: bigserial("id", { mode: "number" }).primaryKey(),
    paymentId: bigint("payment_id", { mode: "number" })
      .notNull()
      .references(() => payments.id),
    type: text("type", { enum: ["created", "paid", "expired"] }).notNull(),
    at: millis("at").notNull(),
  },
  (t) => [index("payment_events_payment_idx").on(t.paymentId, t.id)],
);
