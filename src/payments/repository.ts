import type { PaymentStatus } from "./model.ts";

/**
 * The storage port of the payment service. The service's rules are written once, against these
 * interfaces; each database has one adapter (src/db/sqlite/, and the PostgreSQL one) that runs them.
 * Amounts are integer cents and times epoch milliseconds, in both directions.
 */

/** A payments row as stored: `status` is the stored one (a pending row may be past its expiry). */
export interface PaymentRecord {
  id: number;
  bankPaymentId: string;
  amountCents: number;
  status: PaymentStatus;
  brCode: string;
  createdAt: number;
  expiresAt: number;
  paidAt: number | null;
  expiredAt: number | null;
  /** The order the charge is for (CONTRACT §3): null, an empty object and null when not given. */
  description: string | null;
  /** Stored as JSON text; an adapter may keep `{}` as NULL, but always returns an object. */
  metadata: Record<string, string>;
  returnUrl: string | null;
}

export interface NewPayment {
  bankPaymentId: string;
  amountCents: number;
  brCode: string;
  createdAt: number;
  expiresAt: number;
  description: string | null;
  metadata: Record<string, string>;
  returnUrl: string | null;
}

export type PaymentEventType = "created" | "paid" | "expired";

/** Status filters of the list: effective statuses, so "pending" and "expired" depend on `now`. */
export type ListFilter = "all" | PaymentStatus;

/**
 * One storage operation inside a write, used as `const row = yield* tx.findById(id)`. Written as a
 * generator so that one service function runs on both kinds of driver: the SQLite adapter runs every step
 * at once (bun:sqlite is synchronous, so a write never leaves the event loop's turn and keeps its group
 * commit), and the PostgreSQL adapter yields each query's promise and resumes the write with its result.
 */
export interface Step<T> {
  [Symbol.iterator](): Iterator<unknown, T, unknown>;
}

/** A write: a generator function over `tx` whose return value is the write's result. */
export type WriteFn<T> = (tx: PaymentWrites) => Step<T>;

/** What a write may do. Everything done through one `PaymentWrites` commits together or not at all. */
export interface PaymentWrites {
  findById(id: number): Step<PaymentRecord | undefined>;
  findByBankPaymentId(bankPaymentId: string): Step<PaymentRecord | undefined>;
  insertPayment(payment: NewPayment): Step<PaymentRecord>;
  /** Appends to the payment's event log; returns the event id (ordered, for resuming watchers). */
  insertEvent(event: { paymentId: number; type: PaymentEventType; at: number }): Step<number>;
  /**
   * The one conditional update that makes a confirmation happen exactly once: pending and not past its
   * expiry → paid. Returns the updated row, or undefined when the row was not in that state.
   */
  markPaid(id: number, now: number): Step<PaymentRecord | undefined>;
  /**
   * Marks at most `limit` pending payments past their expiry as expired and returns them; a row is
   * returned by one call only, whichever instance makes it.
   */
  markDueExpired(now: number, limit: number): Step<PaymentRecord[]>;
  findIdempotencyKey(merchant: string, key: string): Step<{ requestHash: string; paymentId: number } | undefined>;
  /** Claims an idempotency key; a key already claimed (by a write that committed first) fails the write. */
  insertIdempotencyKey(entry: {
    merchant: string;
    key: string;
    requestHash: string;
    paymentId: number;
    createdAt: number;
  }): Step<void>;
  /** The payment an inbound webhook-id was applied to, if it was. */
  findWebhookReceipt(webhookId: string): Step<{ paymentId: number } | undefined>;
  insertWebhookReceipt(receipt: { webhookId: string; paymentId: number; receivedAt: number }): Step<void>;
  /** Forgets idempotency keys and webhook receipts older than `before`. */
  pruneBefore(before: number): Step<void>;
}

/**
 * The repository. Reads outside a write see committed state only. `write(fn)` runs fn atomically: all of
 * its changes commit together, or none does, and the promise settles only after the commit. fn does
 * nothing but `yield*` the steps of `tx` (no other I/O, no side effects): an adapter may run it again from
 * the start when the database reports a conflict with a concurrent write (PostgreSQL's unique-key and
 * serialization failures), and the SQLite adapter group-commits the writes of one event-loop turn.
 */
export interface PaymentRepository {
  findById(id: number): Promise<PaymentRecord | undefined>;
  findByBankPaymentId(bankPaymentId: string): Promise<PaymentRecord | undefined>;
  /** Newest first (by id), rows with id < `before`, filtered by effective status at `now`. */
  list(filter: ListFilter, page: { before: number; limit: number; now: number }): Promise<PaymentRecord[]>;
  /** The id of the newest event of the payment (0 when it has none, or does not exist). */
  lastEventId(bankPaymentId: string): Promise<number>;
  /** Payments by effective status at `now`. */
  countByStatus(now: number): Promise<Record<PaymentStatus, number>>;
  write<T>(fn: WriteFn<T>): Promise<T>;
}
