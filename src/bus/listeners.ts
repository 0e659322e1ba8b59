import type { PaymentNews } from "../payments/events.ts";

/** Calls each listener, so one that throws cannot keep the others from hearing the news. */
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
  const listeners = new Set<(news: PaymentNews) => void>();
  const resyncListeners = new Set<() => void>();
  return {
    listeners,
    resyncListeners,
    subscribe(listener: (news: PaymentNews) => void) {
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
