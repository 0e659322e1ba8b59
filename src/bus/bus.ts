import type { Payment } from "../payments/model.ts";

/** News that a payment changed; the database stays the source of truth. */
export interface PaymentChanged {
  /** payment_events.id of the change, so watchers can order and resume. */
  eventId: number;
  payment: Payment;
}

/** Counters of what crossed the bus, for /metrics. */
export interface BusStats {
  /** Events published by this instance. */
  published: number;
  /** Events received from other instances. */
  received: number;
  /** Publishes that could not reach other instances (kept for a retry, or dropped when too many). */
  publishFailures: number;
}

/** The realtime port: the service publishes after commit; sockets and subscriptions listen. */
export interface Bus {
  /** Tells local listeners at once and, when there are others, every other instance. Never throws. */
  publish(event: PaymentChanged): void;
  subscribe(listener: (event: PaymentChanged) => void): () => void;
  /**
   * Called when events may have been missed (the bus reconnected after an outage): listeners re-read
   * what they watch from the database.
   */
  onResync(listener: () => void): () => void;
  /** True when events reach every instance (always for the in-process bus). */
  isConnected(): boolean;
  stats(): BusStats;
  close(): Promise<void>;
}

/** Calls each listener, so one that throws cannot keep the others from hearing the event. */
export function notifyAll<A extends unknown[]>(
  listeners: Iterable<(...args: A) => void>,
  args: A,
  onError: (err: unknown) => void,
): void {
  for (const listener of [...listeners]) {
    try {
      listener(...args);
    } catch (err) {
      onError(err);
    }
  }
}

/** One-instance bus: listeners in this process hear every publish at once. */
export function createInMemoryBus(onError: (err: unknown) => void = (err) => console.error(err)): Bus {
  const listeners = new Set<(event: PaymentChanged) => void>();
  const resyncListeners = new Set<() => void>();
  let published = 0;
  return {
    publish(event) {
      published++;
      notifyAll(listeners, [event], onError);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onResync(listener) {
      resyncListeners.add(listener);
      return () => resyncListeners.delete(listener);
    },
    isConnected: () => true,
    stats: () => ({ published, received: 0, publishFailures: 0 }),
    async close() {
      listeners.clear();
      resyncListeners.clear();
    },
  };
}
