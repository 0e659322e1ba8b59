import type { Database } from "bun:sqlite";

/** Most items one flush runs, so a burst never holds the event loop (and the write lock) unboundedly. */
export const MAX_BATCH = 256;

export interface WriteBatcherOptions {
  maxBatch?: number;
  /** Called after each successful COMMIT with the number of items it made durable (tests, metrics). */
  onCommit?: (items: number) => void;
}

export interface WriteBatcher {
  /**
   * Runs fn inside a shared write transaction and settles once that transaction has committed: with
   * fn's value, or with what fn threw (its writes alone rolled back), or with the error that made the
   * whole batch fail. fn must be synchronous: the transaction is only held for one synchronous flush.
   */
  run<T>(fn: () => T): Promise<T>;
  /** Items waiting for the next flush. */
  pending(): number;
}

interface Item {
  fn: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit: every write queued in one event-loop turn shares one BEGIN IMMEDIATE … COMMIT, each in
 * its own SAVEPOINT. A commit (and its WAL fsync at checkpoints) is the dominant cost of a small write,
 * so sharing it is what lets writes keep up with the single-insert ceiling. No promise settles before
 * the COMMIT, so an acknowledged write is exactly as durable as with a transaction of its own, and
 * BEGIN IMMEDIATE keeps check-then-write atomic across processes as before.
 */
export function createWriteBatcher(sqlite: Database, options: WriteBatcherOptions = {}): WriteBatcher {
  const maxBatch = options.maxBatch ?? MAX_BATCH;
  const begin = sqlite.prepare("BEGIN IMMEDIATE");
  const commit = sqlite.prepare("COMMIT");
  const rollback = sqlite.prepare("ROLLBACK");
  const savepoint = sqlite.prepare("SAVEPOINT write_batch_item");
  const release = sqlite.prepare("RELEASE write_batch_item");
  const rollbackTo = sqlite.prepare("ROLLBACK TO write_batch_item");

  let queue: Item[] = [];
  let scheduled = false;

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    // setImmediate runs after the current I/O phase: requests whose handlers ran in this turn (each
    // after its own microtasks) are all queued by then, and an idle server pays no timer delay.
    setImmediate(flush);
  };

  /** Leaves no transaction open whatever state a failure left behind. */
  const abandon = () => {
    if (!sqlite.inTransaction) return;
    try {
      rollback.run();
    } catch {
      // A failed ROLLBACK leaves nothing we could do better; the next BEGIN reports the problem.
    }
  };

  function flush() {
    scheduled = false;
    const items = queue.length > maxBatch ? queue.splice(0, maxBatch) : queue;
    if (items === queue) queue = [];
    if (queue.length > 0) schedule();
    if (items.length === 0) return;

    const outcomes: Array<{ ok: boolean; value: unknown }> = [];
    try {
      begin.run();
      for (const item of items) {
        savepoint.run();
        try {
          const value = item.fn();
          if (value instanceof Promise) throw new TypeError("A batched write must be synchronous");
          outcomes.push({ ok: true, value });
          release.run();
        } catch (err) {
          // Some errors (SQLITE_FULL, SQLITE_IOERR, …) make SQLite roll the whole transaction back;
          // then the items already released are gone too, and the batch fails as one.
          if (!sqlite.inTransaction) throw err;
          rollbackTo.run();
          release.run();
          outcomes.push({ ok: false, value: err });
        }
      }
      commit.run();
    } catch (err) {
      abandon();
      for (const item of items) item.reject(err);
      return;
    }
    options.onCommit?.(items.length);
    items.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) item.resolve(outcome.value);
      else item.reject(outcome.value);
    });
  }

  return {
    run<T>(fn: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ fn, resolve: resolve as (value: unknown) => void, reject });
        schedule();
      });
    },
    pending: () => queue.length,
  };
}
