/**
 * The checkpointer's thread (see checkpointer.ts): its own connection to the database file, running
 * `PRAGMA wal_checkpoint(PASSIVE)` every `intervalMs` and whenever the main thread asks. PASSIVE never
 * waits for readers or writers, so the serving connection keeps committing while the WAL is copied
 * into the database and both are fsynced here, off the event loop that answers requests.
 */
import { Database } from "bun:sqlite";

declare const self: Worker;

export interface CheckpointResult {
  /** 1 when a lock stopped the checkpoint from finishing (it is retried on the next tick). */
  busy: number;
  /** Frames in the WAL, and how many of them are now in the database file. */
  log: number;
  checkpointed: number;
}

export type ToWorker = { type: "start"; file: string; intervalMs: number } | { type: "checkpoint"; seq: number } | { type: "stop" };
export type FromWorker =
  | { type: "started" }
  | { type: "stopped" }
  | { type: "checkpointed"; seq: number; result: CheckpointResult }
  | { type: "failed"; seq?: number; message: string };

let db: Database | undefined;
let timer: ReturnType<typeof setInterval> | undefined;

function checkpoint(): CheckpointResult {
  return db!.query("PRAGMA wal_checkpoint(PASSIVE)").get() as CheckpointResult;
}

const post = (message: FromWorker) => self.postMessage(message);

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  try {
    switch (message.type) {
      case "start":
        db = new Database(message.file, { strict: true });
        db.run("PRAGMA busy_timeout = 5000");
        // This connection never checkpoints on its own commits (it makes none).
        db.run("PRAGMA wal_autocheckpoint = 0");
        timer = setInterval(() => {
          try {
            checkpoint();
          } catch (err) {
            post({ type: "failed", message: String(err) });
          }
        }, message.intervalMs);
        post({ type: "started" });
        break;
      case "checkpoint":
        post({ type: "checkpointed", seq: message.seq, result: checkpoint() });
        break;
      case "stop":
        clearInterval(timer);
        db?.close();
        db = undefined;
        post({ type: "stopped" });
        break;
    }
  } catch (err) {
    post({ type: "failed", seq: "seq" in message ? message.seq : undefined, message: String(err) });
  }
};
