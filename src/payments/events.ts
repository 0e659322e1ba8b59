/**
 * News that a payment changed: which one, nothing more. The bus carries news, never truth: whoever tells a
 * watcher reads the payment's state from storage first, so a forged or stale message can cost a read but
 * cannot make anyone see a state the database does not hold.
 */
export interface PaymentNews {
  bankPaymentId: string;
}

/** Counters of what crossed the bus, for /metrics. */
export interface BusStats {
  /** News published by this instance. */
  published: number;
  /** News received from other instances. */
  received: number;
  /** Publishes that could not reach other instances (kept for a retry, or dropped when too many). */
  publishFailures: number;
}

/** The realtime port: the service publishes after commit; sockets and subscriptions listen. */
export interface Bus {
  /** Tells every other instance (when there are others) and local listeners, in that order. Never throws. */
  publish(news: PaymentNews): void;
  subscribe(listener: (news: PaymentNews) => void): () => void;
  /**
   * Called when news may have been missed (the bus reconnected after an outage): listeners re-read
   * what they watch from storage.
   */
  onResync(listener: () => void): () => void;
  /** True when news reaches every instance (always for the in-process bus). */
  isConnected(): boolean;
  stats(): BusStats;
  close(): Promise<void>;
}
