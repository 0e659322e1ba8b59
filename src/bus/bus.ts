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
  /** Tells every other instance (when there are others) and local listeners, in that order. Never throws. */
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

/** The listener sets every Bus adapter keeps, with the subscribe/onResync halves of the port. */
export function createListenerRegistry() {
  const listeners = new Set<(event: PaymentChanged) => void>();
  const resyncListeners = new Set<() => void>();
  return {
    listeners,
    resyncListeners,
    subscribe(listener: (event: PaymentChanged) => void) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    onResync(listener: () => void) {
      resyncListeners.add(listener);
      return () => void resyncListeners.delete(listener);
    },
    clear() {
      listeners.clear();
      resyncListeners.clear();
    },
  };
}

/** One-instance bus: listeners in this process hear every publish at once. */
export function createInMemoryBus(onError: (err: unknown) => void = (err) => console.error(err)): Bus {
  const registry = createListenerRegistry();
  let published = 0;
  return {
    publish(event) {
      published++;
      notifyAll(registry.listeners, [event], onError);
    },
    subscribe: registry.subscribe,
    onResync: registry.onResync,
    isConnected: () => true,
    stats: () => ({ published, received: 0, publishFailures: 0 }),
    async close() {
      registry.clear();
    },
  };
}
