import { sql } from "drizzle-orm";
import { bigint, bigserial, boolean, check, index, pgTable, primaryKey, text, uniqueIndex } from "drizzle-orm/pg-core";
import { TXID_OF_BANK_PAYMENT_ID } from "../txid.ts";

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
    /** The BR Code's txid (field 62/05), derived from bank_payment_id: received Pix are matched by it. */
    txid: text("txid").generatedAlwaysAs(TXID_OF_BANK_PAYMENT_ID),
    /** The endToEndId of the Pix that paid it (CONTRACT §11); null when confirmed through §4. */
    endToEndId: text("end_to_end_id"),
    /** Pending plus refunded refunds: the one counter a refund's conditional reservation checks. */
    refundReservedCents: bigint("refund_reserved_cents", { mode: "number" }).notNull().default(0),
    /** Settled refunds only (`refunded_value`). */
    refundedCents: bigint("refunded_cents", { mode: "number" }).notNull().default(0),
  },
  (t) => [
    // newest-first listing filtered by status, and the expiry sweeper's scan of pending rows
    index("payments_status_id_idx").on(t.status, t.id),
    index("payments_status_expires_idx").on(t.status, t.expiresAt),
    index("payments_txid_idx").on(t.txid),
    uniqueIndex("payments_end_to_end_id_unique").on(t.endToEndId),
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
    type: text("type", { enum: ["created", "paid", "expired", "refunded"] }).notNull(),
    at: millis("at").notNull(),
  },
  (t) => [index("payment_events_payment_idx").on(t.paymentId, t.id)],
);

/** Every Pix the PSP reported (CONTRACT §11), matched to a payment or not: the reconciliation ledger. */
export const receivedPix = pgTable(
  "received_pix",
  {
    /** Orders the ledger newest first, and its cursor. */
    id: bigserial("id", { mode: "number" }).primaryKey(),
    /** Unique: a Pix is applied once, however often (and by however many instances) it is received. */
    endToEndId: text("end_to_end_id").notNull().unique(),
    txid: text("txid"),
    amountCents: bigint("amount_cents", { mode: "number" }).notNull(),
    /** `horario`: when the PSP processed the Pix. */
    receivedAt: millis("received_at").notNull(),
    /** When this service recorded it. */
    recordedAt: millis("recorded_at").notNull(),
    payerInfo: text("payer_info"),
    status: text("status", { enum: ["matched", "unmatched"] }).notNull(),
    reason: text("reason", { enum: ["UNKNOWN_TXID", "AMOUNT_MISMATCH", "PAID_AFTER_EXPIRY", "DUPLICATE_PAYMENT"] }),
    /** The payment its txid names (also when unmatched for a reason other than UNKNOWN_TXID). */
    paymentId: bigint("payment_id", { mode: "number" }).references(() => payments.id),
    refundedCents: bigint("refunded_cents", { mode: "number" }).notNull().default(0),
  },
  (t) => [index("received_pix_status_id_idx").on(t.status, t.id)],
);

/** Refunds (devoluções): the id is also the BCB devolução id sent to the PSP. */
export const refunds = pgTable(
  "refunds",
  {
    /** Orders a payment's refunds newest first (ids are random). */
    seq: bigserial("seq", { mode: "number" }).primaryKey(),
    id: text("id").notNull().unique(),
    paymentId: bigint("payment_id", { mode: "number" })
      .notNull()
      .references(() => payments.id),
    /** The Pix it returns (null for a payment confirmed through §4, refunded by the simulated PSP). */
    endToEndId: text("end_to_end_id"),
    amountCents: bigint("amount_cents", { mode: "number" }).notNull(),
    reason: text("reason"),
    status: text("status", { enum: ["pending", "refunded", "failed"] }).notNull(),
    failureReason: text("failure_reason"),
    /** The PSP's ReturnIdentification (pacs.004), once it has one. */
    rtrId: text("rtr_id"),
    createdAt: millis("created_at").notNull(),
    settledAt: millis("settled_at"),
  },
  (t) => [
    index("refunds_payment_idx").on(t.paymentId, t.seq),
    check("refunds_amount_positive", sql`${t.amountCents} > 0`),
  ],
);

/**
 * The refund outbox: one row per refund still to be sent to the PSP (phase `send`) or still to be asked
 * about (phase `check`), written in the same transaction as the refund. Workers claim due rows with a lease.
 */
export const refundOutbox = pgTable(
  "refund_outbox",
  {
    refundId: text("refund_id")
      .primaryKey()
      .references(() => refunds.id),
    phase: text("phase", { enum: ["send", "check"] }).notNull(),
    attempts: bigint("attempts", { mode: "number" }).notNull().default(0),
    nextAttemptAt: millis("next_attempt_at").notNull(),
    /** Until when the instance that claimed it may work on it (0: nobody). */
    leaseUntil: millis("lease_until").notNull().default(0),
    /** Which claim holds the lease: only its holder may record the outcome. */
    leaseToken: text("lease_token"),
    lastError: text("last_error"),
  },
  (t) => [index("refund_outbox_due_idx").on(t.nextAttemptAt)],
);

/** Idempotency keys of POST /payments/{id}/refunds, scoped per API key like the payments' ones. */
export const refundIdempotencyKeys = pgTable(
  "refund_idempotency_keys",
  {
    merchant: text("merchant").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    refundId: text("refund_id")
      .notNull()
      .references(() => refunds.id),
    createdAt: millis("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.merchant, t.key] }), index("refund_idempotency_keys_created_idx").on(t.createdAt)],
);

/** Merchant webhook endpoints (CONTRACT §10). Secrets are sealed (AES-256-GCM), never stored in the clear. */
export const webhookEndpoints = pgTable("webhook_endpoints", {
  /** Orders the list (ids are random). */
  seq: bigserial("seq", { mode: "number" }).primaryKey(),
  id: text("id").notNull().unique(),
  url: text("url").notNull(),
  /** JSON array of event types; `[]` is every type. */
  events: text("events").notNull(),
  description: text("description"),
  enabled: boolean("enabled").notNull().default(true),
  secret: text("secret").notNull(),
  previousSecret: text("previous_secret"),
  previousSecretUntil: millis("previous_secret_until"),
  createdAt: millis("created_at").notNull(),
});

/** Events to send to merchants: the body of every delivery of the event, as first written. */
export const webhookEvents = pgTable(
  "webhook_events",
  {
    id: text("id").primaryKey(),
    type: text("type").notNull(),
    payload: text("payload").notNull(),
    createdAt: millis("created_at").notNull(),
  },
  (t) => [index("webhook_events_created_idx").on(t.createdAt)],
);

/**
 * The merchant-webhook outbox: one delivery per event and endpoint, written in the same transaction as the
 * change. Dispatchers claim due rows with a lease (FOR UPDATE SKIP LOCKED), as the refund outbox.
 */
export const endpointDeliveries = pgTable(
  "endpoint_deliveries",
  {
    seq: bigserial("seq", { mode: "number" }).primaryKey(),
    id: text("id").notNull().unique(),
    endpointId: text("endpoint_id")
      .notNull()
      .references(() => webhookEndpoints.id),
    eventId: text("event_id")
      .notNull()
      .references(() => webhookEvents.id),
    status: text("status", { enum: ["pending", "delivered", "failed"] }).notNull(),
    attempts: bigint("attempts", { mode: "number" }).notNull().default(0),
    lastStatusCode: bigint("last_status_code", { mode: "number" }),
    lastError: text("last_error"),
    /** When a pending delivery is due; null once delivered or failed. */
    nextAttemptAt: millis("next_attempt_at"),
    leaseUntil: millis("lease_until").notNull().default(0),
    leaseToken: text("lease_token"),
    createdAt: millis("created_at").notNull(),
    deliveredAt: millis("delivered_at"),
  },
  (t) => [
    index("endpoint_deliveries_endpoint_idx").on(t.endpointId, t.seq),
    index("endpoint_deliveries_due_idx").on(t.nextAttemptAt),
    index("endpoint_deliveries_event_idx").on(t.eventId),
    index("endpoint_deliveries_delivered_idx").on(t.deliveredAt),
  ],
);
