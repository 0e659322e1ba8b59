import type { Bus, PaymentChanged } from "../bus/bus.ts";
import type { Db } from "../db/client.ts";
import type { Payment } from "../payments/model.ts";
import type { PaymentService } from "../payments/service.ts";

/** A payment as of one event: `eventId` orders states, so a watcher can drop what it already has. */
export interface PaymentState {
  eventId: number;
  payment: Payment;
}

/** What a follower of one payment is told: a change from the bus, or "re-read, you may have missed one". */
export interface Follower {
  change(state: PaymentState): void;
  resync(): void;
}

export interface PaymentFeedDeps {
  bus: Bus;
  service: PaymentService;
  db: Db;
  onError?: (err: unknown) => void;
}

/**
 * The one place that turns bus news into per-payment notifications: one bus listener, an index by
 * bank_payment_id, and database snapshots with the id of the newest event, for /ws and tRPC alike.
 */
export function createPaymentFeed(deps: PaymentFeedDeps) {
  const { bus, service } = deps;
  const onError = deps.onError ?? ((err) => console.error(err));
  const followers = new Map<string, Set<Follower>>();
  const endWatches = new Set<() => void>();
  let watchCount = 0;

  const lastEventStmt = deps.db.$client.query<{ id: number }, [string]>(
    `SELECT coalesce(max(e.id), 0) AS id FROM payment_events e
      JOIN payments p ON p.id = e.payment_id WHERE p.bank_payment_id = ?`,
  );

  const each = (set: Iterable<Follower>, call: (f: Follower) => void) => {
    for (const follower of [...set]) {
      try {
        call(follower);
      } catch (err) {
        onError(err);
      }
    }
  };

  const unsubscribeBus = bus.subscribe((event: PaymentChanged) => {
    const set = followers.get(event.payment.bankPaymentId);
    if (set) each(set, (f) => f.change(event));
  });
  const unsubscribeResync = bus.onResync(() => {
    for (const set of followers.values()) each(set, (f) => f.resync());
  });

  /**
   * The current state and the id of its newest event. The event id is read before the payment: a change
   * committed between the two reads then pairs an older id with the newer state, so the change's own
   * event still counts as news (a repeat at worst) and is never dropped as already seen.
   */
  function snapshot(bankPaymentId: string): PaymentState {
    const eventId = lastEventStmt.all(bankPaymentId)[0]?.id ?? 0;
    const payment = service.getByBankPaymentId(bankPaymentId);
    return { eventId, payment };
  }

  function follow(bankPaymentId: string, follower: Follower): () => void {
    let set = followers.get(bankPaymentId);
    if (!set) {
      set = new Set();
      followers.set(bankPaymentId, set);
    }
    set.add(follower);
    return () => {
      set.delete(follower);
      if (set.size === 0 && followers.get(bankPaymentId) === set) followers.delete(bankPaymentId);
    };
  }

  /**
   * Starts watching one payment and returns its states, newest only, each newer than `since`: first
   * the current one, then every change. It follows the payment before it reads the snapshot, so a change
   * committed in between is still delivered. Throws PaymentNotFound at once for an unknown id.
   */
  function watch(
    bankPaymentId: string,
    options: { since?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<PaymentState> {
    // Only the newest state matters to a watcher, so a slow one holds one pending state, not a queue.
    let pending: PaymentState | null = null;
    let resync = false;
    let ended = false;
    let wake: (() => void) | null = null;
    const poke = () => {
      wake?.();
      wake = null;
    };
    const end = () => {
      ended = true;
      poke();
    };
    const unfollow = follow(bankPaymentId, {
      change(state) {
        if (!pending || state.eventId > pending.eventId) pending = state;
        poke();
      },
      resync() {
        resync = true;
        poke();
      },
    });
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      unfollow();
      endWatches.delete(end);
      options.signal?.removeEventListener("abort", stop);
      watchCount--;
      end();
    };
    let first: PaymentState;
    try {
      first = snapshot(bankPaymentId);
    } catch (err) {
      unfollow();
      throw err;
    }
    watchCount++;
    endWatches.add(end);
    // A generator that is never started never runs its `finally`; the signal still releases it.
    options.signal?.addEventListener("abort", stop, { once: true });
    if (options.signal?.aborted) stop();

    async function* states(): AsyncGenerator<PaymentState> {
      let last = options.since ?? -1;
      try {
        if (first.eventId > last) {
          last = first.eventId;
          yield first;
        }
        while (!ended) {
          if (!pending && !resync) await new Promise<void>((resolve) => (wake = resolve));
          if (ended) break;
          if (resync) {
            resync = false;
            try {
              const state = snapshot(bankPaymentId);
              if (!pending || state.eventId >= pending.eventId) pending = state;
            } catch (err) {
              onError(err);
            }
          }
          const next = pending;
          pending = null;
          if (next && next.eventId > last) {
            last = next.eventId;
            yield next;
          }
        }
      } finally {
        stop();
      }
    }
    return states();
  }

  return {
    snapshot,
    follow,
    watch,
    /** Open tRPC watches, for /metrics. */
    watchCount: () => watchCount,
    /** Ends every watch (their streams complete) and stops listening to the bus. */
    close() {
      for (const end of [...endWatches]) end();
      unsubscribeBus();
      unsubscribeResync();
    },
  };
}

export type PaymentFeed = ReturnType<typeof createPaymentFeed>;
