/**
 * How many payments are watched at once: per connection (a /ws or /trpc-ws socket, or one SSE request) and
 * on the whole instance, summed over /ws subscriptions and tRPC watches of either transport. A watch holds
 * memory until it ends, so both are bounded (issue 10: 100,000 watches on one socket took 1.4 GB).
 */

/** One connection's share: how many watches it holds now, and who to tell when it holds none again. */
export interface ConnectionWatches {
  count: number;
  /** Called when `count` drops back to 0 (the idle-socket timer re-arms). */
  onEmpty?: () => void;
}

/** Why a watch was refused: the connection holds its maximum, or the instance does. */
export type WatchRefusal = "connection" | "instance";

export interface WatchBudget {
  /** A fresh share for a new connection. */
  connection(): ConnectionWatches;
  /** Takes one watch for the connection: a release (safe to call twice), or why not. */
  take(connection: ConnectionWatches): (() => void) | WatchRefusal;
  /** Watches held on this instance now. */
  count(): number;
  readonly perConnection: number;
  readonly perInstance: number;
}

export function createWatchBudget(limits: { perConnection: number; perInstance: number }): WatchBudget {
  let total = 0;
  return {
    perConnection: limits.perConnection,
    perInstance: limits.perInstance,
    connection: () => ({ count: 0 }),
    take(connection) {
      if (connection.count >= limits.perConnection) return "connection";
      if (total >= limits.perInstance) return "instance";
      connection.count++;
      total++;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        total--;
        if (--connection.count === 0) connection.onEmpty?.();
      };
    },
    count: () => total,
  };
}
