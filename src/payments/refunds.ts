import { createHash } from "node:crypto";
import type { Clock, Ids } from "../clock.ts";
import { coalesced } from "./coalesce.ts";
import {
  IdempotencyConflict,
  NoEndToEndId,
  PaymentNotFound,
  PaymentNotPaid,
  RefundExceeds,
  RefundsNotConfigured,
  RefundWindowClosed,
} from "./errors.ts";
import type { Bus } from "./events.ts";
import { REFUND_WINDOW_MS, type Refund } from "./model.ts";
import { type Psp, type PspRefund, PspRejectedError } from "./psp.ts";
import type { ClaimedRefundSend, PaymentRecord, PaymentRepository, RefundSendPhase } from "./repository.ts";
import type { WebhookEventRecorder } from "./webhook-events.ts";

/** How long a worker holds a claimed send: well above a PSP call's timeout, so only a dead worker loses it. */
export const REFUND_LEASE_MS = 60_000;
/** Most outbox rows one pass claims. */
export const REFUND_CLAIM_LIMIT = 10;

/** Wait before sending again after the PSP could not be reached: 5 s, 10 s, 20 s, … at most 10 min. */
export function sendRetryDelay(attempts: number): number {
  return Math.min(5_000 * 2 ** Math.max(0, attempts - 1), 10 * 60_000);
}

/**
 * Wait before asking the PSP about a devolução it accepted (EM_PROCESSAMENTO): 30 s, 1 min, 2 min, … at most
 * 1 h. The PSP's callback usually settles it first; asking is for a callback that never came.
 */
export function checkDelay(attempts: number): number {
  return Math.min(30_000 * 2 ** Math.max(0, attempts - 1), 60 * 60_000);
}

/** What a PSP reported about one of our refunds (a PUT's answer, a GET, a callback's `devolucoes[]`). */
export interface RefundReport {
  refundId: string;
  /** The Pix it was reported under; a report under another Pix than the refund's is ignored. */
  endToEndId?: string | null;
  status: PspRefund["status"];
  reason: string | null;
  rtrId: string | null;
  amountCents?: number;
}

export interface RefundServiceDeps {
  repo: PaymentRepository;
  clock: Clock;
  ids: Ids;
  bus: Bus;
  /** null: refunds are not configured (production without PSP_API_URL). */
  psp: Psp | null;
  /** Unexpected failures of the sender (logged by the composition root). */
  onError?: (err: unknown) => void;
  /** A send (or check) that did not reach the PSP and will be tried again after `delayMs`. */
  onRetry?: (refundId: string, error: string, delayMs: number) => void;
  /**
   * Records the merchant-webhook events of refunds (`refund.created` in `create`, `refund.succeeded` /
   * `refund.failed` when one settles) inside the write that makes the change.
   */
  webhookEvents: WebhookEventRecorder;
  /** Told after a commit that recorded merchant-webhook events (it wakes the dispatcher). */
  onWebhookEvents?: () => void;
}

/**
 * Refunds (devoluções): the rules of creating one, and the outbox worker that sends it to the PSP. A refund is
 * written together with its outbox row and its reservation of the payment's refundable amount; the worker
 * sends it after the commit, outside any write, and records each answer in a write of its own.
 */
export function createRefundService(deps: RefundServiceDeps) {
  const { repo, clock, ids, bus, psp, webhookEvents } = deps;
  const onError = deps.onError ?? ((err: unknown) => console.error(err));

  /**
   * Applies a PSP's final answer about a refund: pending → refunded (counted in the payment's and the Pix's
   * refunded amount; watchers are told) or failed (its reservation given back). Once: a refund that is no
   * longer pending, or unknown, or reported under another Pix, is left as it is.
   */
  async function applyPspRefund(report: RefundReport): Promise<Refund | null> {
    // EM_PROCESSAMENTO (or a status the spec adds later) changes nothing; the sender keeps the rtrId it is given.
    if (report.status !== "DEVOLVIDO" && report.status !== "NAO_REALIZADO") return null;
    const refunded = report.status === "DEVOLVIDO";
    const now = clock.now();
    const result = await repo.write(function* (tx) {
      const refund = yield* tx.findRefund(report.refundId);
      if (!refund) return null;
      if (report.endToEndId !== undefined && report.endToEndId !== refund.endToEndId) return null;
      if (report.amountCents !== undefined && report.amountCents !== refund.amountCents) return null;
      const settled = yield* tx.settleRefund(refund.id, {
        status: refunded ? "refunded" : "failed",
        failureReason: refunded ? null : (report.reason ?? "NAO_REALIZADO"),
        rtrId: report.rtrId,
        at: now,
      });
      yield* tx.deleteRefundSend(refund.id);
      if (!settled) return null;
      let payment: PaymentRecord;
      if (refunded) {
        payment = yield* tx.addRefunded(refund.paymentId, refund.amountCents);
        if (refund.endToEndId) yield* tx.addPixRefunded(refund.endToEndId, refund.amountCents);
        // refunded_value is part of the payment object, so watchers get a new state (and event id).
        yield* tx.insertEvent({ paymentId: refund.paymentId, type: "refunded", at: now });
      } else {
        payment = yield* tx.releaseRefund(refund.paymentId, refund.amountCents);
      }
      yield* webhookEvents.record(tx, refunded ? "refund.succeeded" : "refund.failed", now, payment, settled);
      return { settled, payment };
    });
    if (!result) return null;
    deps.onWebhookEvents?.();
    if (refunded) bus.publish({ bankPaymentId: result.payment.bankPaymentId });
    return result.settled;
  }

  const onRetry = deps.onRetry ?? (() => {});
  const sender = createRefundSender({ repo, clock, ids, psp, onError, onRetry, applyPspRefund });

  return {
    /**
     * Creates a refund of a paid payment and queues it for the PSP. With an idempotency key the call must be
     * idempotent: the same key and request return the refund the first call created, and send nothing. The
     * key is claimed before the amount is reserved, so a twin racing on another instance waits for the first
     * to commit and then answers as a repeat rather than as exceeding the amount.
     */
    async create(input: {
      paymentId: number;
      amountCents: number;
      reason: string | null;
      merchant: string;
      idempotencyKey?: string;
    }): Promise<{ refund: Refund; created: boolean }> {
      if (!psp) throw RefundsNotConfigured();
      const now = clock.now();
      const requestHash = createHash("sha256")
        .update(JSON.stringify([input.paymentId, input.amountCents, input.reason]))
        .digest("hex");
      const result = await repo.write(function* (tx) {
        if (input.idempotencyKey !== undefined) {
          const kept = yield* tx.findRefundIdempotencyKey(input.merchant, input.idempotencyKey);
          if (kept) {
            if (kept.requestHash !== requestHash) throw IdempotencyConflict();
            return { refund: (yield* tx.findRefund(kept.refundId))!, created: false };
          }
        }
        const payment = yield* tx.findById(input.paymentId);
        if (!payment) throw PaymentNotFound();
        if (payment.status !== "paid") throw PaymentNotPaid();
        if (payment.paidAt !== null && now - payment.paidAt > REFUND_WINDOW_MS) throw RefundWindowClosed();
        if (psp.refundsNeedEndToEndId && payment.endToEndId === null) throw NoEndToEndId();
        const refund = yield* tx.insertRefund({
          id: `rf${ids.uuid().replace(/[^a-zA-Z0-9]/g, "")}`.slice(0, 35),
          paymentId: payment.id,
          endToEndId: payment.endToEndId,
          amountCents: input.amountCents,
          reason: input.reason,
          createdAt: now,
        });
        if (input.idempotencyKey !== undefined) {
          yield* tx.insertRefundIdempotencyKey({
            merchant: input.merchant,
            key: input.idempotencyKey,
            requestHash,
            refundId: refund.id,
            createdAt: now,
          });
        }
        const reserved = yield* tx.reserveRefund(payment.id, input.amountCents);
        if (!reserved) throw RefundExceeds();
        yield* tx.queueRefundSend({ refundId: refund.id, nextAttemptAt: now });
        yield* webhookEvents.record(tx, "refund.created", now, reserved, refund);
        return { refund, created: true };
      });
      if (result.created) {
        sender.kick();
        deps.onWebhookEvents?.();
      }
      return result;
    },

    /** A payment's refunds, newest first. */
    async list(paymentId: number): Promise<Refund[]> {
      if (!(await repo.findById(paymentId))) throw PaymentNotFound();
      return repo.listRefunds(paymentId);
    },

    applyPspRefund,

    /** Sends what is due in the outbox until nothing is; resolves after a pass that began after the call. */
    drain: sender.drain,
    /** Starts a pass soon, without waiting for it. */
    kick: sender.kick,
    /** Resolves when no pass is under way (shutdown waits for it before closing storage). */
    idle: sender.idle,
  };
}

export type RefundService = ReturnType<typeof createRefundService>;

interface RefundSenderDeps {
  repo: PaymentRepository;
  clock: Clock;
  ids: Ids;
  psp: Psp | null;
  onError: (err: unknown) => void;
  onRetry: (refundId: string, error: string, delayMs: number) => void;
  applyPspRefund: (report: RefundReport) => Promise<Refund | null>;
}

/**
 * The refund outbox's worker, one per instance. A pass claims due rows with a lease (one claim holds a row at
 * a time, on any instance), then for each: phase `send` PUTs the devolução, phase `check` GETs it. The
 * devolução id is the refund id on every attempt, so a retry after a timeout, a 5xx or a crashed instance
 * (its lease runs out and another instance claims the row) can never make a second devolução. An answer
 * that is final settles the refund; EM_PROCESSAMENTO moves the row to `check`; a PSP that could not be
 * reached is tried again with back-off.
 */
function createRefundSender(deps: RefundSenderDeps) {
  const { repo, clock, ids, psp, onError, onRetry, applyPspRefund } = deps;

  const describe = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 500);

  async function reschedule(
    claim: ClaimedRefundSend,
    token: string,
    phase: RefundSendPhase,
    attempts: number,
    delayMs: number,
    lastError: string | null,
  ) {
    if (lastError !== null) onRetry(claim.refundId, lastError, delayMs);
    await repo.write((tx) =>
      tx.rescheduleRefundSend({
        refundId: claim.refundId,
        token,
        phase,
        attempts,
        nextAttemptAt: clock.now() + delayMs,
        lastError,
      }),
    );
  }

  async function attempt(psp: Psp, claim: ClaimedRefundSend, token: string) {
    const refund = await repo.findRefund(claim.refundId);
    if (refund?.status !== "pending") {
      await repo.write((tx) => tx.deleteRefundSend(claim.refundId));
      return;
    }
    let answer: PspRefund | null;
    try {
      answer =
        claim.phase === "send"
          ? await psp.requestRefund({
              endToEndId: refund.endToEndId,
              refundId: refund.id,
              amountCents: refund.amountCents,
              nature: "ORIGINAL",
              description: refund.reason,
            })
          : await psp.getRefund(refund.endToEndId, refund.id);
    } catch (err) {
      if (!(err instanceof PspRejectedError) || claim.phase === "check") {
        return reschedule(claim, token, claim.phase, claim.attempts, sendRetryDelay(claim.attempts), describe(err));
      }
      // Refused as it is. An earlier attempt whose answer was lost may have made it, though: ask first.
      try {
        answer = await psp.getRefund(refund.endToEndId, refund.id);
      } catch (again) {
        return reschedule(claim, token, "send", claim.attempts, sendRetryDelay(claim.attempts), describe(again));
      }
      if (!answer) {
        await applyPspRefund({
          refundId: refund.id,
          status: "NAO_REALIZADO",
          reason: `Refused by the PSP: ${err.detail || `HTTP ${err.status}`}`.slice(0, 140),
          rtrId: null,
        });
        return;
      }
    }
    if (answer === null) {
      // Asked about, and the PSP has no such devolução: send it (again, with the same id).
      return reschedule(claim, token, "send", 0, 0, "The PSP has no record of the devolução");
    }
    if (answer.status === "DEVOLVIDO" || answer.status === "NAO_REALIZADO") {
      await applyPspRefund({
        refundId: refund.id,
        status: answer.status,
        reason: answer.reason,
        rtrId: answer.rtrId,
      });
      return;
    }
    if (answer.rtrId && answer.rtrId !== refund.rtrId) {
      await repo.write((tx) => tx.setRefundRtrId(refund.id, answer.rtrId!));
    }
    const checks = claim.phase === "check" ? claim.attempts : 0;
    await reschedule(claim, token, "check", checks, checkDelay(checks + 1), null);
  }

  /** One pass: claims what is due and works on it. Returns how many rows it claimed. */
  async function pass(psp: Psp): Promise<number> {
    const now = clock.now();
    if (!(await repo.hasDueRefundSends(now))) return 0;
    const token = ids.uuid();
    const claimed = await repo.write((tx) =>
      tx.claimRefundSends({ now, leaseUntil: now + REFUND_LEASE_MS, token, limit: REFUND_CLAIM_LIMIT }),
    );
    await Promise.all(claimed.map((claim) => attempt(psp, claim, token).catch(onError)));
    return claimed.length;
  }

  const passes = coalesced(async () => {
    // A full claim may have left more due rows: claim again until one comes back short.
    while ((await pass(psp!)) === REFUND_CLAIM_LIMIT) {}
  }, onError);
  const drain = (): Promise<void> => (psp ? passes.run() : Promise.resolve());

  return {
    drain,
    kick() {
      void drain();
    },
    idle: (): Promise<void> => passes.running() ?? Promise.resolve(),
  };
}
