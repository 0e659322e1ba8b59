import type { PaymentStatus, ReceivedPix, Refund, RefundStatus, UnmatchedReason } from "./model.ts";
import type { NewWebhookEvent, NewWebhookEventAroundId, WebhookReads, WebhookWrites } from "./webhook-repository.ts";

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
  endToEndId: string | null;
  /** Pending plus refunded refunds; never above amountCents. */
  refundReservedCents: number;
  /** Refunded (settled) refunds. */
  refundedCents: number;
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

export type PaymentEventType = "created" | "paid" | "expired" | "refunded";

/** A received Pix as first recorded: matched or not, with why. */
export interface NewReceivedPix {
  endToEndId: string;
  txid: string | null;
  amountCents: number;
  receivedAt: number;
  recordedAt: number;
  payerInfo: string | null;
  status: "matched" | "unmatched";
  reason: UnmatchedReason | null;
  paymentId: number | null;
}

export type ReceivedPixFilter = "all" | "matched" | "unmatched";

export interface NewRefund {
  id: string;
  paymentId: number;
  endToEndId: string | null;
  amountCents: number;
  reason: string | null;
  createdAt: number;
}

/** A refund's place in the outbox: still to be sent (`send`), or sent and still to be asked about (`check`). */
export type RefundSendPhase = "send" | "check";

/** An outbox row a worker claimed: it holds the lease until `leaseUntil`, under `token`. */
export interface ClaimedRefundSend {
  refundId: string;
  phase: RefundSendPhase;
  /** Attempts in this phase, this one included. */
  attempts: number;
}

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

/** What `createPayment` did: created the payment, or found the idempotency key claimed and changed nothing. */
export type CreateOutcome =
  | { created: true; row: PaymentRecord; queued: number }
  | { created: false; kept: { requestHash: string; paymentId: number } };

/** An idempotency key a create claims: the key of `merchant`, and the fingerprint of its request. */
export interface KeyClaim {
  merchant: string;
  key: string;
  requestHash: string;
}

/**
 * What a write may do. Everything done through one `PaymentWrites` commits together or not at all.
 *
 * `createPayment` and `confirmPayment` are each the whole change of their write, in one step: an adapter may run
 * such a step as one statement by itself (the PostgreSQL one does, without a transaction around it), so once one
 * has changed data its write makes no other change (both adapters refuse it) and throws nothing (on PostgreSQL
 * the change is committed by then); it may still read and return. Their meaning is that of the smaller steps
 * in `createPaymentInSteps` and `confirmPaymentInSteps` below, which the SQLite adapter runs.
 */
export interface PaymentWrites extends WebhookWrites {
  /**
   * Unless `idempotencyKey` is claimed already: inserts the pending payment with its `created` event, records
   * `webhookEvent` (its payload around the new id) and claims the key for the payment. A key claimed by a
   * rival write committing first fails the write (it runs again and then finds the key).
   */
  createPayment(
    payment: NewPayment,
    options: { idempotencyKey?: KeyClaim; webhookEvent: NewWebhookEventAroundId },
  ): Step<CreateOutcome>;
  /**
   * `markPaid(id, now)` and, when it changed the payment, `webhookEvent` (written by the caller for the paid row)
   * and the inbound `receipt` with it. Undefined, changing nothing, when the payment was not pending and unexpired.
   * A receipt recorded by a rival write committing first fails the write (it runs again and then finds it).
   */
  confirmPayment(
    id: number,
    now: number,
    options: { webhookEvent: NewWebhookEvent; receipt?: { webhookId: string } },
  ): Step<{ row: PaymentRecord; queued: number } | undefined>;
  findById(id: number): Step<PaymentRecord | undefined>;
  findByBankPaymentId(bankPaymentId: string): Step<PaymentRecord | undefined>;
  /** Inserts a pending payment and its `created` event. */
  insertPayment(payment: NewPayment): Step<PaymentRecord>;
  /**
   * Appends to the payment's event log; returns the event id (ordered, for resuming watchers). The steps that
   * change a payment's status append their own event (`insertPayment`, `markPaid`, `markDueExpired`).
   */
  insertEvent(event: { paymentId: number; type: PaymentEventType; at: number }): Step<number>;
  /**
   * The one conditional update that makes a confirmation happen exactly once: pending and not past its
   * expiry → paid, with its `paid` event. Returns the updated row, or undefined when the row was not in that
   * state (and then appends nothing).
   */
  markPaid(id: number, now: number, endToEndId?: string | null): Step<PaymentRecord | undefined>;
  /** The payment whose BR Code carries this txid (field 62/05). */
  findByTxid(txid: string): Step<PaymentRecord | undefined>;
  /**
   * Marks at most `limit` pending payments past their expiry as expired, each with its `expired` event, and
   * returns them; a row is returned by one call only, whichever instance makes it.
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
  /** Forgets idempotency keys (of payments and of refunds) and webhook receipts older than `before`. */
  pruneBefore(before: number): Step<void>;

  /**
   * Records a received Pix unless its endToEndId is recorded already (by this write's rival on any
   * instance too: the end_to_end_id is unique). Returns the new entry, or undefined for a repeat.
   */
  claimReceivedPix(pix: NewReceivedPix): Step<ReceivedPix | undefined>;
  findReceivedPix(endToEndId: string): Step<ReceivedPix | undefined>;
  setReceivedPixOutcome(
    endToEndId: string,
    outcome: { status: "matched" | "unmatched"; reason: UnmatchedReason | null; paymentId: number | null },
  ): Step<void>;
  /** Adds a settled refund to the Pix it returned. */
  addPixRefunded(endToEndId: string, cents: number): Step<void>;

  /**
   * The one conditional write that keeps refunds within the payment: adds `cents` to the payment's
   * reserved refunds only if it is paid and the sum stays at most its amount. Returns the updated row, or
   * undefined when it would not fit (or the payment is not paid).
   */
  reserveRefund(paymentId: number, cents: number): Step<PaymentRecord | undefined>;
  /** Gives back what a failed refund reserved. */
  releaseRefund(paymentId: number, cents: number): Step<PaymentRecord>;
  /** Counts a settled refund in the payment's refunded amount. */
  addRefunded(paymentId: number, cents: number): Step<PaymentRecord>;
  insertRefund(refund: NewRefund): Step<Refund>;
  findRefund(id: string): Step<Refund | undefined>;
  /** pending → refunded | failed, once; undefined when the refund was not pending. */
  settleRefund(
    id: string,
    outcome: {
      status: Exclude<RefundStatus, "pending">;
      failureReason: string | null;
      rtrId: string | null;
      at: number;
    },
  ): Step<Refund | undefined>;
  /** Keeps the PSP's ReturnIdentification of a refund still in progress. */
  setRefundRtrId(id: string, rtrId: string): Step<void>;
  findRefundIdempotencyKey(merchant: string, key: string): Step<{ requestHash: string; refundId: string } | undefined>;
  /** Claims a refund idempotency key; one claimed already (by a write that committed first) fails the write. */
  insertRefundIdempotencyKey(entry: {
    merchant: string;
    key: string;
    requestHash: string;
    refundId: string;
    createdAt: number;
  }): Step<void>;

  /** Puts a refund in the outbox, to be sent from `nextAttemptAt` on. */
  queueRefundSend(entry: { refundId: string; nextAttemptAt: number }): Step<void>;
  /**
   * Leases at most `limit` due outbox rows (due: `next_attempt_at <= now` and no live lease) until
   * `leaseUntil` under `token`, counting the attempt. A row is leased by one claim at a time, on any instance.
   */
  claimRefundSends(claim: { now: number; leaseUntil: number; token: string; limit: number }): Step<ClaimedRefundSend[]>;
  /**
   * Records an attempt's outcome and releases the lease: next phase, attempts so far in it, when to try
   * again. Only the lease's holder may (false when `token` no longer holds it).
   */
  rescheduleRefundSend(entry: {
    refundId: string;
    token: string;
    phase: RefundSendPhase;
    attempts: number;
    nextAttemptAt: number;
    lastError: string | null;
  }): Step<boolean>;
  /** Takes a settled refund out of the outbox. */
  deleteRefundSend(refundId: string): Step<void>;
}

/**
 * The repository. Reads outside a write see committed state only. `write(fn)` runs fn atomically: all of
 * its changes commit together, or none does, and the promise settles only after the commit. fn does
 * nothing but `yield*` the steps of `tx` (no other I/O, no side effects): an adapter may run it again from
 * the start when the database reports a conflict with a concurrent write (PostgreSQL's unique-key and
 * serialization failures), and the SQLite adapter group-commits the writes of one event-loop turn.
 */
export interface PaymentRepository extends WebhookReads {
  findById(id: number): Promise<PaymentRecord | undefined>;
  findByBankPaymentId(bankPaymentId: string): Promise<PaymentRecord | undefined>;
  /** Newest first (by id), rows with id < `before`, filtered by effective status at `now`. */
  list(filter: ListFilter, page: { before: number; limit: number; now: number }): Promise<PaymentRecord[]>;
  /** The id of the newest event of the payment (0 when it has none, or does not exist). */
  lastEventId(bankPaymentId: string): Promise<number>;
  /** Payments by effective status at `now`. */
  countByStatus(now: number): Promise<Record<PaymentStatus, number>>;
  /** The received-Pix ledger, newest first (by id), entries with id < `before`. */
  listReceivedPix(filter: ReceivedPixFilter, page: { before: number; limit: number }): Promise<ReceivedPix[]>;
  findReceivedPix(endToEndId: string): Promise<ReceivedPix | undefined>;
  /** A payment's refunds, newest first. */
  listRefunds(paymentId: number): Promise<Refund[]>;
  findRefund(id: string): Promise<Refund | undefined>;
  /** True when some outbox row is due at `now` and not leased (a cheap look before claiming). */
  hasDueRefundSends(now: number): Promise<boolean>;
  write<T>(fn: WriteFn<T>): Promise<T>;
}

/** The error of a write that changes data after its createPayment or confirmPayment did (a programming error). */
export const CHANGE_AFTER_FINAL =
  "A write step came after a final step that changed data: a final step must be the last change";

/** `createPayment` in the smaller steps: its meaning, and the SQLite adapter's implementation. */
export function* createPaymentInSteps(
  tx: PaymentWrites,
  payment: NewPayment,
  options: { idempotencyKey?: KeyClaim; webhookEvent: NewWebhookEventAroundId },
): Generator<unknown, CreateOutcome, unknown> {
  const claim = options.idempotencyKey;
  if (claim) {
    const kept = yield* tx.findIdempotencyKey(claim.merchant, claim.key);
    if (kept) return { created: false, kept };
  }
  const row = yield* tx.insertPayment(payment);
  const { payloadBefore, payloadAfter, ...event } = options.webhookEvent;
  const queued = yield* tx.recordWebhookEvent({ ...event, payload: `${payloadBefore}${row.id}${payloadAfter}` });
  if (claim) yield* tx.insertIdempotencyKey({ ...claim, paymentId: row.id, createdAt: payment.createdAt });
  return { created: true, row, queued };
}

/** `confirmPayment` in the smaller steps: its meaning, and the SQLite adapter's implementation. */
export function* confirmPaymentInSteps(
  tx: PaymentWrites,
  id: number,
  now: number,
  options: { webhookEvent: NewWebhookEvent; receipt?: { webhookId: string } },
): Generator<unknown, { row: PaymentRecord; queued: number } | undefined, unknown> {
  const row = yield* tx.markPaid(id, now);
  if (!row) return undefined;
  const queued = yield* tx.recordWebhookEvent(options.webhookEvent);
  if (options.receipt) {
    yield* tx.insertWebhookReceipt({ webhookId: options.receipt.webhookId, paymentId: row.id, receivedAt: now });
  }
  return { row, queued };
}
