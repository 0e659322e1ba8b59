import { createHash } from "node:crypto";
import type { Bus } from "../bus/bus.ts";
import type { Clock, Ids } from "../clock.ts";
import type { PaymentRow } from "../db/schema.ts";
import { buildBrCode, txidFromUuid } from "../pix/brcode.ts";
import {
  AmountMismatch,
  IdempotencyConflict,
  InvalidQuery,
  PaymentExpired,
  PaymentNotFound,
  WebhookIdReused,
} from "./errors.ts";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type Payment, type PaymentStatus } from "./model.ts";
import type { ListFilter, PaymentRepository } from "./repository.ts";

/** Idempotency keys and webhook ids are kept at least this long (CONTRACT §4: at least 24 h). */
export const RETENTION_MS = 48 * 60 * 60 * 1000;

export interface PaymentServiceDeps {
  repo: PaymentRepository;
  clock: Clock;
  ids: Ids;
  bus: Bus;
  ttlSeconds: number;
  pix: { key: string; merchantName: string; merchantCity: string };
}

/** The effective status: a pending payment past its expiry is expired, whether or not the sweeper ran. */
function toPayment(row: PaymentRow, now: number): Payment {
  const status: PaymentStatus = row.status === "pending" && row.expiresAt <= now ? "expired" : row.status;
  return {
    id: row.id,
    bankPaymentId: row.bankPaymentId,
    amountCents: row.amountCents,
    status,
    brCode: row.brCode,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    paidAt: row.paidAt,
  };
}

export function encodeCursor(id: number): string {
  return Buffer.from(`p:${id}`).toString("base64url");
}

function decodeCursor(cursor: string): number {
  const match = /^p:(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match) throw InvalidQuery("Invalid cursor");
  return Number(match[1]);
}

/** Payment rules: creation, reads, confirmation and expiry. No HTTP or tRPC here. */
export function createPaymentService(deps: PaymentServiceDeps) {
  const { repo, clock, ids, bus } = deps;

  const announce = (row: PaymentRow, eventId: number, now: number) =>
    bus.publish({ eventId, payment: toPayment(row, now) });

  return {
    /**
     * Creates a pending payment with its BR Code. With an idempotency key the call must be
     * idempotent: the same key and amount return the payment the first call created, and create nothing.
     * Settles once the shared COMMIT of its write batch is done; watchers hear of it only then.
     */
    async create(input: { amountCents: number; merchant: string; idempotencyKey?: string }): Promise<{
      payment: Payment;
      created: boolean;
    }> {
      const now = clock.now();
      const requestHash = createHash("sha256").update(`amount_cents=${input.amountCents}`).digest("hex");
      // Batched writes run one after another in one transaction, so a second request with the same key
      // in the same batch finds the first one's key here and returns its payment.
      const result = await repo.write(() => {
        if (input.idempotencyKey !== undefined) {
          const kept = repo.findIdempotencyKey(input.merchant, input.idempotencyKey);
          if (kept) {
            if (kept.requestHash !== requestHash) throw IdempotencyConflict();
            return { row: repo.findById(kept.paymentId)!, eventId: 0, created: false };
          }
        }
        const bankPaymentId = ids.uuid();
        const brCode = buildBrCode({
          pixKey: deps.pix.key,
          merchantName: deps.pix.merchantName,
          merchantCity: deps.pix.merchantCity,
          amountCents: input.amountCents,
          txid: txidFromUuid(bankPaymentId),
          pointOfInitiation: "12",
        });
        const row = repo.insertPayment({
          bankPaymentId,
          amountCents: input.amountCents,
          brCode,
          createdAt: now,
          expiresAt: now + deps.ttlSeconds * 1000,
        });
        const eventId = repo.insertEvent({ paymentId: row.id, type: "created", at: now });
        if (input.idempotencyKey !== undefined) {
          repo.insertIdempotencyKey({
            merchant: input.merchant,
            key: input.idempotencyKey,
            requestHash,
            paymentId: row.id,
            createdAt: now,
          });
        }
        return { row, eventId, created: true };
      });
      if (result.created) announce(result.row, result.eventId, now);
      return { payment: toPayment(result.row, now), created: result.created };
    },

    /** Reads one payment by its numeric id. */
    get(id: number): Payment {
      const row = repo.findById(id);
      if (!row) throw PaymentNotFound();
      return toPayment(row, clock.now());
    },

    /** Reads one payment by the payer's capability, its bank_payment_id. */
    getByBankPaymentId(bankPaymentId: string): Payment {
      const row = repo.findByBankPaymentId(bankPaymentId);
      if (!row) throw PaymentNotFound();
      return toPayment(row, clock.now());
    },

    /** Newest first, filtered by effective status, in pages of `limit` with an opaque cursor. */
    list(input: { status?: PaymentStatus; limit?: number; cursor?: string }): {
      payments: Payment[];
      nextCursor: string | null;
    } {
      const limit = input.limit ?? DEFAULT_PAGE_SIZE;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw InvalidQuery("Invalid limit");
      const before = input.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(input.cursor);
      const now = clock.now();
      const filter: ListFilter = input.status ?? "all";
      const rows = repo.list(filter, { before, limit: limit + 1, now });
      const more = rows.length > limit;
      const pageRows = more ? rows.slice(0, limit) : rows;
      return {
        payments: pageRows.map((r) => toPayment(r, now)),
        nextCursor: more ? encodeCursor(pageRows[pageRows.length - 1]!.id) : null,
      };
    },

    /**
     * Applies the bank's confirmation. One conditional UPDATE decides the transition, so concurrent
     * confirmations (on any instance) produce exactly one `paid` event; a repeat for a paid payment, or a
     * replayed webhook id, changes nothing and succeeds. Settles, and announces, after the COMMIT.
     */
    async confirm(input: { bankPaymentId: string; amountCents: number; webhookId?: string }): Promise<{
      payment: Payment;
      changed: boolean;
    }> {
      const now = clock.now();
      const result = await repo.write(() => {
        const row = repo.findByBankPaymentId(input.bankPaymentId);
        if (!row) throw PaymentNotFound();
        if (row.amountCents !== input.amountCents) throw AmountMismatch();
        if (input.webhookId !== undefined) {
          const seen = repo.findWebhookDelivery(input.webhookId);
          if (seen) {
            if (seen.paymentId !== row.id) throw WebhookIdReused();
            return { row, eventId: 0, changed: false };
          }
        }
        if (row.status === "paid") return { row, eventId: 0, changed: false };
        const paid = repo.markPaid(row.id, now);
        if (!paid) throw PaymentExpired(); // the row is not pending, or is past its expiry
        const eventId = repo.insertEvent({ paymentId: paid.id, type: "paid", at: now });
        if (input.webhookId !== undefined) {
          repo.insertWebhookDelivery({ webhookId: input.webhookId, paymentId: paid.id, receivedAt: now });
        }
        return { row: paid, eventId, changed: true };
      });
      if (result.changed) announce(result.row, result.eventId, now);
      return { payment: toPayment(result.row, now), changed: result.changed };
    },

    /** Marks every pending payment past its expiry as expired, once across all instances, and announces each. */
    expireDue(): Payment[] {
      const now = clock.now();
      const expired = repo.transaction(() =>
        repo.markDueExpired(now).map((row) => ({
          row,
          eventId: repo.insertEvent({ paymentId: row.id, type: "expired", at: now }),
        })),
      );
      for (const e of expired) announce(e.row, e.eventId, now);
      return expired.map((e) => toPayment(e.row, now));
    },

    /** Forgets idempotency keys and webhook ids older than the retention period. */
    prune(): void {
      repo.pruneBefore(clock.now() - RETENTION_MS);
    },
  };
}

export type PaymentService = ReturnType<typeof createPaymentService>;
