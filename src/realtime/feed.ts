import type { Bus, PaymentNews } from "../payments/events.ts";
import type { PaymentService, PaymentSnapshot } from "../payments/service.ts";

/** A payment as of one event: `eventId` orders states, so a watcher can drop what it already has. */
export type PaymentState = PaymentSnapshot;

/** What a follower of one payment is told: a state read from storage after news of a change. */
export interface Follower {
  change(state: PaymentState): void;
}

export interface PaymentFeedDeps {
  bus: Bus;
  service: Pick<PaymentService, "snapshot">;
  onError?: (err: unknown) => void;
}

/**
 * The one place that turns bus news into per-payment states, for /ws and tRPC alike: one bus listener, an
 * index of followers by bank_payment_id, and for each piece of news about a followed payment one read of
 * its state from storage (the bus is news, the database is truth), shared by all of that payment's
 * followers on this instance. News that arrives while a read is under way asks for one more read after it.
 */
export function createPaymentFeed(deps: PaymentFeedDeps) {
  const { bus, service } = deps;
  const onError = deps.onError ?? ((err) => console.error(err));
  const followers = new Map<string, Set<Follower>>();
  /** Payments being read now; true when news came during the read, so it must be read again. */
  const reading = new Map<string, boolean>();
  const endWatches = new Set<() => void>();
  let watchCount = 0;

  const tell = (bankPaymentId: string, state: PaymentState) => {
    const set = followers.get(bankPaymentId);
    if (!set) return;
    for (const follower of [...set]) {
      try {
        follower.change(state);
      } catch (err) {
        onError(err);
      }
    }
  };

  async function refresh(bankPaymentId: string) {
    reading.set(bankPaymentId, false);
    try {
      do {
        reading.set(bankPaymentId, false);
        try {
          tell(bankPaymentId, await service.snapshot(bankPaymentId));
        } catch (err) {
          onError(err);
        }
      } while (reading.get(bankPaymentId) && followers.has(bankPaymentId));
    } finally {
      reading.delete(bankPaymentId);
    }
  }

  /** Reads the payment's state for its followers, unless nobody here follows it. */
  function onNews(bankPaymentId: string) {
    if (!followers.has(bankPaymentId)) return;
    if (reading.has(bankPaymentId)) reading.set(bankPaymentId, true);
    else void refresh(bankPaymentId);
  }

  const unsubscribeBus = bus.subscribe((news: PaymentNews) => onNews(news.bankPaymentId));
  const unsubscribeResync = bus.onResync(() => {
    for (const bankPaymentId of [...followers.keys()]) onNews(bankPaymentId);
  });

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
   * committed in between is still delivered. Rejects with PaymentNotFound for an unknown id.
   */
  async function watch(
    bankPaymentId: string,
    options: { since?: number; signal?: AbortSignal } = {},
  ): Promise<AsyncGenerator<PaymentState>> {
    // Only the newest state matters to a watcher, so a slow one holds one pending state, not a queue.
    let pending: PaymentState | null = null;
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
    });
    let first: PaymentState;
    try {
      first = await service.snapshot(bankPaymentId);
    } catch (err) {
      unfollow();
      throw err;
    }
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
          if (!pending) {
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
          if (ended) break;
          const next: PaymentState | null = pending;
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
    snapshot: (bankPaymentId: string) => service.snapshot(bankPaymentId),
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
