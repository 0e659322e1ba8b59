import type { Clock } from "../clock.ts";
import { parsePixAmount } from "../pix/amount.ts";
import type { Pix, PixCallback } from "../pix/api-pix-types.ts";
import { InvalidQuery, PixNotFound, PspUnavailable } from "./errors.ts";
import type { Bus } from "./events.ts";
import { DEFAULT_PAGE_SIZE, effectiveStatus, MAX_PAGE_SIZE, type ReceivedPix, type UnmatchedReason } from "./model.ts";
import type { Psp, PspPix } from "./psp.ts";
import type { RefundService } from "./refunds.ts";
import type { PaymentRecord, PaymentRepository } from "./repository.ts";
import { decodeCursor, encodeCursor } from "./service.ts";
import type { WebhookEventRecorder } from "./webhook-events.ts";

/** How many Pix of one callback are confirmed with the PSP at a time. */
const VERIFY_CONCURRENCY = 4;

export interface ReceivedPixServiceDeps {
  repo: PaymentRepository;
  clock: Clock;
  bus: Bus;
  /** The PSP; only one that can look a Pix up (`getPix`) confirms received Pix. */
  psp: Psp | null;
  refunds: Pick<RefundService, "applyPspRefund">;
  /** A Pix that was not applied because the PSP does not confirm it (logged by the composition root). */
  onRejected?: (endToEndId: string, why: string) => void;
  /** Records the merchant-webhook event of a payment a Pix paid, inside the write that pays it. */
  webhookEvents: WebhookEventRecorder;
  /** Told after a commit that recorded merchant-webhook events (it wakes the dispatcher). */
  onWebhookEvents?: () => void;
}

/** A callback's Pix in the domain's terms. The schema already checked `valor` and `horario`. */
function fromCallback(pix: Pix): PspPix {
  return {
    endToEndId: pix.endToEndId,
    txid: pix.txid ?? null,
    amountCents: parsePixAmount(pix.valor)!,
    at: Date.parse(pix.horario),
    payerInfo: pix.infoPagador ?? null,
    refunds: (pix.devolucoes ?? []).map((d) => ({
      id: d.id,
      rtrId: d.rtrId,
      amountCents: parsePixAmount(d.valor)!,
      status: d.status,
      reason: d.motivo ?? null,
    })),
  };
}

/** Why a Pix does not pay the payment its txid names, in the order the reasons are checked; null: it pays it. */
function unmatchedReason(payment: PaymentRecord | undefined, pix: PspPix, now: number): UnmatchedReason | null {
  if (!payment) return "UNKNOWN_TXID";
  if (payment.amountCents !== pix.amountCents) return "AMOUNT_MISMATCH";
  if (payment.status === "paid") return "DUPLICATE_PAYMENT";
  if (effectiveStatus(payment.status, payment.expiresAt, now) !== "pending") return "PAID_AFTER_EXPIRY";
  return null;
}

type Verified = { kind: "apply"; pix: PspPix } | { kind: "rejected" } | { kind: "retry" };

/** Runs `work` over `items`, at most `limit` at a time, keeping their order. */
async function mapLimit<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/**
 * Received Pix (CONTRACT §11): the PSP's callback applied once per endToEndId, matched to a payment by txid
 * and amount, and the ledger of every Pix received, matched or not.
 */
export function createReceivedPixService(deps: ReceivedPixServiceDeps) {
  const { repo, clock, bus, psp, refunds } = deps;
  const onRejected = deps.onRejected ?? (() => {});

  /**
   * Confirms a callback's Pix with the PSP, when it can be asked: a callback URL can be called by anyone who
   * learns it, so only the PSP's own record (found, same amount and txid) is applied, devoluções included.
   * Runs before, and outside, any write.
   */
  async function verify(pix: Pix): Promise<Verified> {
    const claimed = fromCallback(pix);
    if (!psp?.getPix) return { kind: "apply", pix: claimed };
    let known: PspPix | null;
    try {
      known = await psp.getPix(pix.endToEndId);
    } catch {
      return { kind: "retry" };
    }
    if (!known) {
      onRejected(pix.endToEndId, "the PSP has no Pix with this endToEndId");
      return { kind: "rejected" };
    }
    if (known.amountCents !== claimed.amountCents || known.txid !== claimed.txid) {
      onRejected(pix.endToEndId, "the PSP's Pix has another valor or txid");
      return { kind: "rejected" };
    }
    return { kind: "apply", pix: known };
  }

  /**
   * Records one Pix and, when it matches a pending payment, pays it, in one write. The endToEndId is claimed
   * first (unique in the ledger), so a Pix sent again, or at once to several instances, is applied by one
   * write only; the payment changes by the same conditional update as a §4 confirmation.
   */
  async function apply(pix: PspPix): Promise<void> {
    const now = clock.now();
    const paid = await repo.write(function* (tx) {
      const payment = pix.txid === null ? undefined : yield* tx.findByTxid(pix.txid);
      const reason = unmatchedReason(payment, pix, now);
      const entry = yield* tx.claimReceivedPix({
        endToEndId: pix.endToEndId,
        txid: pix.txid,
        amountCents: pix.amountCents,
        receivedAt: pix.at,
        recordedAt: now,
        payerInfo: pix.payerInfo,
        status: reason === null ? "matched" : "unmatched",
        reason,
        paymentId: payment?.id ?? null,
      });
      if (!entry || reason !== null || !payment) return null;
      const row = yield* tx.markPaid(payment.id, now, pix.endToEndId);
      if (!row) {
        // Paid or expired between the read and the update (on PostgreSQL, by a write it waited for).
        const current = yield* tx.findById(payment.id);
        const late: UnmatchedReason = current?.status === "paid" ? "DUPLICATE_PAYMENT" : "PAID_AFTER_EXPIRY";
        yield* tx.setReceivedPixOutcome(pix.endToEndId, { status: "unmatched", reason: late, paymentId: payment.id });
        return null;
      }
      yield* deps.webhookEvents.record(tx, "payment.paid", now, row);
      return row;
    });
    if (paid) {
      bus.publish({ bankPaymentId: paid.bankPaymentId });
      deps.onWebhookEvents?.();
    }
    for (const refund of pix.refunds) {
      await refunds.applyPspRefund({
        refundId: refund.id,
        endToEndId: pix.endToEndId,
        status: refund.status,
        reason: refund.reason,
        rtrId: refund.rtrId,
        amountCents: refund.amountCents,
      });
    }
  }

  return {
    /**
     * Applies a PSP callback. Every Pix that could be confirmed is applied; when some could not be (the PSP
     * did not answer), throws PspUnavailable after the others, so the PSP sends the callback again (a repeat
     * of what was applied changes nothing).
     */
    async receive(callback: PixCallback): Promise<void> {
      const verified = await mapLimit(callback.pix, VERIFY_CONCURRENCY, verify);
      for (const v of verified) if (v.kind === "apply") await apply(v.pix);
      if (verified.some((v) => v.kind === "retry")) throw PspUnavailable();
    },

    /** The ledger, newest first, optionally only matched or unmatched Pix, in pages with an opaque cursor. */
    async list(input: { status?: "matched" | "unmatched"; limit?: number; cursor?: string }): Promise<{
      pix: ReceivedPix[];
      nextCursor: string | null;
    }> {
      const limit = input.limit ?? DEFAULT_PAGE_SIZE;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw InvalidQuery("Invalid limit");
      const before = input.cursor === undefined ? Number.MAX_SAFE_INTEGER : decodeCursor(input.cursor, "x");
      const rows = await repo.listReceivedPix(input.status ?? "all", { before, limit: limit + 1 });
      const more = rows.length > limit;
      const page = more ? rows.slice(0, limit) : rows;
      return { pix: page, nextCursor: more ? encodeCursor(page[page.length - 1]!.id, "x") : null };
    },

    /** One ledger entry by endToEndId. */
    async get(endToEndId: string): Promise<ReceivedPix> {
      const row = await repo.findReceivedPix(endToEndId);
      if (!row) throw PixNotFound();
      return row;
    },
  };
}

export type ReceivedPixService = ReturnType<typeof createReceivedPixService>;
