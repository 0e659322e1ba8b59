import { Database } from "bun:sqlite";

/** Opens a benchmark database the way the app does: WAL, synchronous=NORMAL, busy timeout. */
export function openCeilingDatabase(file: string): Database {
  const db = new Database(file, { strict: true });
  db.run("PRAGMA busy_timeout = 5000");
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA synchronous = NORMAL");
  return db;
}

/** Every ceiling announces its port the same way, so the runner finds it. */
export function announce(port: number | undefined): void {
  console.log(`ceiling listening on ${port}`);
}

/** Stops on SIGTERM like the real server does. */
export function stopOnSignal(stop: () => void): void {
  process.on("SIGTERM", () => {
    stop();
    process.exit(0);
  });
}

export const PORT = Number(process.env.PORT ?? 0);
export const DATABASE = process.env.DATABASE_URL ?? "";
