import type { Bus } from "../payments/events.ts";
import { createListenerRegistry, notifyAll } from "./listeners.ts";

/** One-instance bus: listeners in this process hear every publish at once. */
export function createInMemoryBus(onError: (err: unknown) => void = (err) => console.error(err)): Bus {
  const registry = createListenerRegistry();
  let published = 0;
  return {
    publish(news) {
      published++;
      notifyAll(registry.listeners, [news], onError);
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
