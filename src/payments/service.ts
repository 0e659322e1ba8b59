import { createHash } from "node:crypto";
import type { Clock, Ids } from "../clock.ts";
import { buildBrCode, txidFromUuid } from "../pix/brcode.ts";
import {
  AmountMismatch,
  IdempotencyConflict,
  InvalidQuery,
  InvalidReturnUrl,
  PaymentExpired,
  PaymentNotFound,
  WebhookIdReused,
} from "./errors.ts";
import type { Bus } from "./events.ts";
import { DEFAULT_PAGE_SIZE, effectiveStatus, MAX_PAGE_SIZE, type Payment, type PaymentStatus } from "./model.ts";
import type { NewPayment, PaymentEventType, PaymentRecord, PaymentRepository } from "./repository.ts";
import type { WebhookEventRecorder } from "./webhook-events.ts";

/** Idempotency keys and webhook ids are kept at least this long (CONTRACT §4: at least 24 h). */
export const RETENTION_MS = 48 * 60 * 60 * 1000;

/** Most payments one sweep step expires; the sweep yields to other work between steps. */
export const EXPIRY_CHUNK = 1000;

export interface PaymentServiceDeps {
  repo: PaymentRepository;
  clock: Clock;
  ids: Ids;
  bus: Bus;
  ttlSeconds: number;
  pix: { key: string; merchantName: string; merchantCity: string };
  /** Whether a return_url may be plain http (outside production); https is always accepted. */
  allowHttpReturnUrls: boolean;
  /**
   * Told of each change after its commit, once, by the instance that made it (news from other instances
   * does not come here): the composition root logs it as a domain event.
   */
  onChange?: (change: PaymentChange) => void;
  /** Records each change's merchant-webhook event inside the change's write. */
  webhookEvents: WebhookEventRecorder;
  /** Told after a commit that recorded merchant-webhook events (it wakes the dispatcher). */
  onWebhookEvents?: () => void;
}

/** A change of one payment, as the domain-event log records it: what happened and to which payment. */
export interface PaymentChange {
  type: PaymentEventType;
  paymentId: number;
  bankPaymentId: string;
}

/** What a create asks for besides the merchant and the key: the amount and the order it pays. */
export interface NewCharge {
  amountCents: number;
  description: string | null;
  metadata: Record<string, string>;
  returnUrl: string | null;
}

/**
 * What an idempotency key remembers of its request. A charge without order fields hashes exactly as before
 * they existed, so keys stored by an older version still match; metadata keys are sorted, so the same pairs
 * in another order are the same request.
 */
export function requestFingerprint(charge: NewCharge): string {
  const parts = [`amount_cents=${charge.amountCents}`];
  if (charge.description !== null) parts.push(`description=${JSON.stringify(charge.description)}`);
  const keys = Object.keys(charge.metadata).sort();
  if (keys.length > 0) parts.push(`metadata=${JSON.stringify(keys.map((k) => [k, charge.metadata[k]]))}`);
  if (charge.returnUrl !== null) parts.push(`return_url=${JSON.stringify(charge.returnUrl)}`);
  return createHash("sha256").update(parts.join("&")).digest("hex");
}

/** A new payment as the store will keep it: pending, nothing paid or refunded; its id is the store's to give. */
export function newRecord(payment: NewPayment): PaymentRecord {
  return {
    id: 0,
    ...payment,
    status: "pending",
    paidAt: null,
    expiredAt: null,
    endToEndId: null,
    refundReservedCents: 0,
    refundedCents: 0,
  };
}

/** A stored row as the service shows it, with its effective status at `now`. */
export function toPayment(row: PaymentRecord, now: number): Payment {
  return {
    id: row.id,
    bankPaymentId: row.bankPaymentId,
    amountCents: row.amountCents,
    status: effectiveStatus(row.status, row.expiresAt, now),
    brCode: row.brCode,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    paidAt: row.paidAt,
    description: row.description,
    metadata: row.metadata,
    returnUrl: row.returnUrl,
    endToEndId: row.endToEndId,
    refundedCents: row.refundedCents,
  };
}

/** An opaque page cursor: the last id of a page, under a prefix of its list's own (`p` payments, `x` Pix). */
export function encodeCursor(id: number, prefix = "p"): string {
  return Buffer.from(`${prefix}:${id}`).toString("base64url");
}

export function decodeCursor(cursor: string, prefix = "p"): number {
  const match = /^([a-z]):(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match || match[1] !== prefix) throw InvalidQuery("Invalid cursor");
  return Number(match[2]);
}

/** A payment as of one event: `eventId` orders states, so a watcher can drop what it already has. */
export interface PaymentSnapshot {
  eventId: number;
  payment: Payment;
}

/**
 * Payment rules: creation, reads, confirmation and expiry. No HTTP, tRPC or SQL here: every write is one
 * `repo.write`, atomic on every storage adapter, and watchers hear of it (through the bus) only after its
 * commit.
 */
export function createPaymentService(deps: PaymentServiceDeps) {
  const { repo, clock, ids, bus, webhookEvents } = deps;

  /** After a commit: watchers, the dispatcher when the write queued deliveries (`queued`), the domain log. */
  const announce = (row: PaymentRecord, type: PaymentEventType, queued: number) => {
    bus.publish({ bankPaymentId: row.bankPaymentId });
    if (queued > 0) deps.onWebhookEvents?.();
    deps.onChange?.({ type, paymentId: row.id, bankPaymentId: row.bankPaymentId });
  };

  return {
    /**
     * Creates a pending payment with its BR Code. With an idempotency key the call must be idempotent:
     * the same key, amount and order fields return the payment the first call created, and create nothing. Two writes
     * racing with one key (on any instance) create one payment: the key is claimed in the same write as
     * the payment, and the loser's write fails and runs again, finding the winner's key.
     */
    async create(
      input: Pick<NewCharge, "amountCents"> & Partial<NewCharge> & { merchant: string; idempotencyKey?: string },
    ): Promise<{ payment: Payment; created: boolean }> {
      const charge: NewCharge = {
        amountCents: input.amountCents,
        description: input.description ?? null,
        metadata: input.metadata ?? {},
        returnUrl: input.returnUrl ?? null,
      };
      if (charge.returnUrl !== null && !deps.allowHttpReturnUrls && !/^https:/i.test(charge.returnUrl)) {
        throw InvalidReturnUrl();
      }
      const now = clock.now();
      const requestHash = requestFingerprint(charge);
      const result = await repo.write(function* (tx) {
        const bankPaymentId = ids.uuid();
        const brCode = buildBrCode({
          pixKey: deps.pix.key,
          merchantName: deps.pix.merchantName,
          merchantCity: deps.pix.merchantCity,
          amountCents: input.amountCents,
          txid: txidFromUuid(bankPaymentId),
          pointOfInitiation: "12",
        });
        const payment: NewPayment = {
          bankPaymentId,
          amountCents: input.amountCents,
          brCode,
          createdAt: now,
          expiresAt: now + deps.ttlSeconds * 1000,
          description: charge.description,
          metadata: charge.metadata,
          returnUrl: charge.returnUrl,
        };
        // One step: the key's claim, the payment and its merchant-webhook event commit together (or, when the
        // key is claimed already, nothing changes and the claim comes back).
        const outcome = yield* tx.createPayment(payment, {
          idempotencyKey:
            input.idempotencyKey === undefined
              ? undefined
              : { merchant: input.merchant, key: input.idempotencyKey, requestHash },
          webhookEvent: webhookEvents.aroundId("payment.created", now, newRecord(payment)),
        });
        if (outcome.created) return { row: outcome.row, created: true, queued: outcome.queued };
        if (outcome.kept.requestHash !== requestHash) throw IdempotencyConflict();
        const first = yield* tx.findById(outcome.kept.paymentId);
        return { row: first!, created: false, queued: 0 };
      });
      if (result.created) announce(result.row, "created", result.queued);
      return { payment: toPayment(result.row, now), created: result.created };
    },

    /** Reads one payment by its numeric id. */
    async get(id: number): Promise<Payment> {
      const row = await repo.findById(id);
      if (!row) throw PaymentNotFound();
      return toPayment(row, clock.now());
    },

    /** Reads one payment by the payer's capability, its bank_payment_id. */
    async getByBankPaymentId(bankPaymentId: string): Promise<Payment> {
      const row = await repo.findByBankPaymentId(bankPaymentId);
      if (!row) throw PaymentNotFound();
      return toPayment(row, clock.now());
    },

    /**
     * The current state and the id of its newest event, for watchers. The event id is read before the
     * payment: a change committed between the two reads then pairs an older id with the newer state, so
     * the change's own event still counts as news (a repeat at worst) and is never dropped as already seen.
     */
    async snapshot(bankPaymentId: string): Promise<PaymentSnapshot> {
      const eventId = await repo.lastEventId(bankPaymentId);
      const row = await repo.findByBankPaymentId(bankPaymentId);
      if (!row) throw PaymentNotFound();
      return { eventId, payment: toPayment(row, clock.now()) };
    },

    /** Newest first, filtered by effective status, in pages of `limit` with an opaque cursor. */
    async list(input: { status?: PaymentStatus; limit?: number; cursor?: string }): Promise<{
      payments: Payment[];
      nextCursor: string | null;
    }> {
      const limit = input.limit ?? DEFAULT_PAGE_SIZE;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw InvalidQuery("Invalid limit");
      const before = input.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(input.cursor);
      const now = clock.now();
      const rows = await repo.list(input.status ?? "all", { before, limit: limit + 1, now });
      const more = rows.length > limit;
      const pageRows = more ? rows.slice(0, limit) : rows;
      return {
        payments: pageRows.map((r) => toPayment(r, now)),
        nextCursor: more ? encodeCursor(pageRows[pageRows.length - 1]!.id) : null,
      };
    },

    /** Payments by effective status now (a pending one past its expiry counts as expired). */
    countByStatus(): Promise<Record<PaymentStatus, number>> {
      return repo.countByStatus(clock.now());
    },

    /**
     * Applies the bank's confirmation. One conditional update decides the transition, so concurrent
     * confirmations (on any instance) make exactly one `paid` event; a repeat for a paid payment, or a
     * replayed webhook id, changes nothing and succeeds.
     */
    async confirm(input: { bankPaymentId: string; amountCents: number; webhookId?: string }): Promise<{
      payment: Payment;
      changed: boolean;
    }> {
      const now = clock.now();
      const result = await repo.write(function* (tx) {
        const row = yield* tx.findByBankPaymentId(input.bankPaymentId);
        if (!row) throw PaymentNotFound();
        if (row.amountCents !== input.amountCents) throw AmountMismatch();
        if (input.webhookId !== undefined) {
          const seen = yield* tx.findWebhookReceipt(input.webhookId);
          if (seen) {
            if (seen.paymentId !== row.id) throw WebhookIdReused();
            return { row, changed: false, queued: 0 };
          }
        }
        if (row.status === "paid") return { row, changed: false, queued: 0 };
        // The payment as the confirmation leaves it, for its merchant-webhook event: recorded in the same step as
        // the conditional update (and the receipt), which changes nothing else of a pending payment.
        const paidRow: PaymentRecord = { ...row, status: "paid", paidAt: now, endToEndId: null };
        const paid = yield* tx.confirmPayment(row.id, now, {
          webhookEvent: webhookEvents.draft("payment.paid", now, paidRow),
          receipt: input.webhookId === undefined ? undefined : { webhookId: input.webhookId },
        });
        if (!paid) {
          // Not pending, or past its expiry. A concurrent confirmation may have won between the read and
          // the update (PostgreSQL re-checks the condition after waiting for it): then this one is a repeat.
          const current = yield* tx.findById(row.id);
          if (current?.status === "paid") return { row: current, changed: false, queued: 0 };
          throw PaymentExpired();
        }
        return { row: paid.row, changed: true, queued: paid.queued };
      });
      if (result.changed) announce(result.row, "paid", result.queued);
      return { payment: toPayment(result.row, now), changed: result.changed };
    },

    /**
     * Marks every pending payment past its expiry as expired, once across all instances, and announces
     * each. Works in steps of EXPIRY_CHUNK rows, each its own write, so a large backlog never holds the
     * event loop or the write lock for long.
     */
    async expireDue(): Promise<Payment[]> {
      const now = clock.now();
      const expired: Payment[] = [];
      for (;;) {
        const rows = await repo.write(function* (tx) {
          const due = yield* tx.markDueExpired(now, EXPIRY_CHUNK);
          let queued = 0;
          for (const row of due) queued += yield* webhookEvents.record(tx, "payment.expired", now, row);
          return { due, queued };
        });
        for (const [i, row] of rows.due.entries()) {
          // The dispatcher is woken once, with the first row, when the step queued any delivery.
          announce(row, "expired", i === 0 ? rows.queued : 0);
          expired.push(toPayment(row, now));
        }
        if (rows.due.length < EXPIRY_CHUNK) return expired;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    },

    /** Forgets idempotency keys and webhook ids older than the retention period. */
    prune(): Promise<void> {
      const before = clock.now() - RETENTION_MS;
      return repo.write((tx) => tx.pruneBefore(before));
    },
  };
}

export type PaymentService = ReturnType<typeof createPaymentService>;
