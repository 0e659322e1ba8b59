import type { Db } from "./client.ts";
import type { CheckpointResult, FromWorker, ToWorker } from "./checkpoint-worker.ts";

export type { CheckpointResult };

/** SQLite's own default: checkpoint when a commit leaves the WAL above this many pages. */
export const DEFAULT_AUTOCHECKPOINT_PAGES = 1000;

export interface Checkpointer {
  /** Runs one PASSIVE checkpoint now, on the checkpointer's thread. */
  checkpointNow(): Promise<CheckpointResult>;
  /** True while the serving connection leaves its checkpoints to the worker. */
  running(): boolean;
  /** Gives checkpoints back to the serving connection, then ends the worker. */
  stop(): Promise<void>;
}

/**
 * Moves WAL checkpoints off the request path. With SQLite's default, the commit that takes the WAL past
 * 1000 pages copies it into the database and fsyncs both inside that request, stalling the event loop for
 * every request in flight (the create p99 of docs/benchmarks.md). Here the serving connection sets
 * `wal_autocheckpoint = 0` and a Worker with its own connection runs a PASSIVE checkpoint every
 * `intervalMs`, so the WAL stays as bounded as before while no request pays for the fsyncs. If the worker
 * fails, the serving connection gets its autocheckpoint back, so the WAL can never grow without bound.
 */
export async function startCheckpointer(
  db: Db,
  file: string,
  opts: {
    intervalMs: number;
    onError: (err: Error) => void;
    /** Tests substitute a worker that fails; the app always uses checkpoint-worker.ts. */
    workerUrl?: URL;
  },
): Promise<Checkpointer> {
  const worker = new Worker(opts.workerUrl ?? new URL("./checkpoint-worker.ts", import.meta.url));
  const send = (message: ToWorker) => worker.postMessage(message);
  const pending = new Map<number, { resolve: (r: CheckpointResult) => void; reject: (e: Error) => void }>();
  let seq = 0;
  let active = false;
  let onStopped: (() => void) | undefined;

  const fallBack = (err: Error) => {
    if (!active) return;
    active = false;
    db.$client.run(`PRAGMA wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    opts.onError(err);
  };

  const started = new Promise<void>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      switch (message.type) {
        case "started":
          resolve();
          break;
        case "stopped":
          onStopped?.();
          break;
        case "checkpointed":
          pending.get(message.seq)?.resolve(message.result);
          pending.delete(message.seq);
          break;
        case "failed": {
          const err = new Error(`WAL checkpoint failed: ${message.message}`);
          if (message.seq !== undefined) {
            pending.get(message.seq)?.reject(err);
            pending.delete(message.seq);
          } else if (!active) reject(err);
          else opts.onError(err); // a tick failed; the next one retries
          break;
        }
      }
    };
    worker.onerror = (event) => {
      const err = new Error(`WAL checkpointer crashed: ${event.message}`);
      reject(err);
      fallBack(err);
    };
  });
  worker.addEventListener("close", () => fallBack(new Error("WAL checkpointer exited")));
  send({ type: "start", file, intervalMs: opts.intervalMs });
  await started;
  db.$client.run("PRAGMA wal_autocheckpoint = 0");
  active = true;
  (worker as Worker & { unref(): void }).unref(); // Bun: the worker alone keeps no process alive

  return {
    checkpointNow() {
      if (!active) return Promise.reject(new Error("WAL checkpointer is not running"));
      const id = ++seq;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        send({ type: "checkpoint", seq: id });
      });
    },
    running: () => active,
    async stop() {
      if (!active) return;
      active = false;
      db.$client.run(`PRAGMA wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT_PAGES}`);
      const stopped = new Promise<void>((resolve) => (onStopped = resolve));
      send({ type: "stop" });
      await Promise.race([stopped, Bun.sleep(1000)]);
      worker.terminate();
    },
  };
}
