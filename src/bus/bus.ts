import type { Payment } from "../payments/model.ts";

/** News that a payment changed; the database stays the source of truth. */
export interface PaymentChanged {
  /** payment_events.id of the change, so watchers can order and resume. */
  eventId: number;
  payment: Payment;
}

/** The realtime port: the service publishes after commit; sockets and subscriptions listen. */
export interface Bus {
  publish(event: PaymentChanged): void;
  subscribe(listener: (event: PaymentChanged) => void): () => void;
  /** True when events reach every instance (always for the in-process bus). */
  isConnected(): boolean;
  close(): Promise<void>;
}

/** One-instance bus: listeners in this process hear every publish at once. */
export function createInMemoryBus(): Bus {
  const listeners = new Set<(event: PaymentChanged) => void>();
  return {
    publish(event) {
      for (const listener of listeners) listener(event);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    isConnected: () => true,
    async close() {
      listeners.clear();
    },
  };
}
