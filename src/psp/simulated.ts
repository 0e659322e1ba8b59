import type { Psp, PspRefund, RefundRequest } from "../payments/psp.ts";

export interface SimulatedPspOptions {
  /** How long after a devolução is asked for it is reported DEVOLVIDO (the callback a real PSP would make). */
  settleDelayMs?: number;
  /** Where the simulated callback goes: the refund service's `applyPspRefund`. */
  onSettled: (endToEndId: string | null, refund: PspRefund) => void | Promise<void>;
  onError?: (err: unknown) => void;
}

export const SIMULATED_SETTLE_DELAY_MS = 2000;

/**
 * The PSP used outside production when PSP_API_URL is unset: it takes every devolução (EM_PROCESSAMENTO) and
 * reports it DEVOLVIDO after a short delay, in process, as a real PSP's callback would. It knows nothing of
 * received Pix, so they are applied without being confirmed (there is no `getPix`), and it refunds a payment
 * confirmed through §4 too. Asked about a devolução it has forgotten (another instance took it, or this one
 * restarted), it says it was made: in a simulation every devolução succeeds.
 */
export function createSimulatedPsp(options: SimulatedPspOptions): Psp & { close(): void } {
  const delay = options.settleDelayMs ?? SIMULATED_SETTLE_DELAY_MS;
  const onError = options.onError ?? ((err: unknown) => console.error(err));
  const known = new Map<string, PspRefund>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const rtrId = () => `D00000000${crypto.randomUUID().replace(/-/g, "")}`.slice(0, 32);

  return {
    refundsNeedEndToEndId: false,

    async requestRefund(request: RefundRequest): Promise<PspRefund> {
      const seen = known.get(request.refundId);
      if (seen) return seen;
      const refund: PspRefund = {
        id: request.refundId,
        rtrId: rtrId(),
        amountCents: request.amountCents,
        status: "EM_PROCESSAMENTO",
        reason: null,
      };
      known.set(request.refundId, refund);
      const timer = setTimeout(() => {
        timers.delete(timer);
        const settled: PspRefund = { ...refund, status: "DEVOLVIDO" };
        known.set(request.refundId, settled);
        Promise.resolve(options.onSettled(request.endToEndId, settled)).catch(onError);
      }, delay);
      timer.unref?.();
      timers.add(timer);
      return refund;
    },

    async getRefund(_endToEndId: string | null, refundId: string): Promise<PspRefund | null> {
      return known.get(refundId) ?? { id: refundId, rtrId: null, amountCents: 0, status: "DEVOLVIDO", reason: null };
    },

    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
