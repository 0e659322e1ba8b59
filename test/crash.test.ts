/**
 * An instance killed with SIGKILL under load loses nothing it acknowledged (CONTRACT §12), on the backend
 * of the run: a SQLite file on the SQLite pass, a PostgreSQL database on the PostgreSQL pass.
 */
import { expect, test } from "bun:test";
import { databaseUrlForProcess, queryDatabase } from "./backend.ts";
import { merchantHeaders, restConfirm, spawnServer, tempDir } from "./harness.ts";

test("SIGKILL under load: every create and confirmation answered 2xx is in the database afterwards", async () => {
  const tmp = tempDir("payments-crash-");
  const file = `${tmp.dir}/crash.sqlite`;
  const server = await spawnServer({ DATABASE_URL: file });
  const created: Array<{ id: number; bank_payment_id: string; cents: number }> = [];
  const confirmed: number[] = [];
  let refused = 0;
  let stop = false;
  try {
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const cents = 100 + w * 1000 + i;
        try {
          const res = await fetch(`${server.url}/payments`, {
            method: "POST",
            headers: merchantHeaders(),
            body: JSON.stringify({ value: cents / 100 }),
          });
          if (res.status !== 200) continue;
          const { payment } = (await res.json()) as any;
          created.push({ id: payment.id, bank_payment_id: payment.bank_payment_id, cents });
          const paid = await restConfirm(server.url, { bank_payment_id: payment.bank_payment_id, value: cents / 100 });
          if (paid.status === 200) confirmed.push(payment.id);
        } catch {
          refused++; // the connection died with the process: never acknowledged
          return;
        }
      }
    };
    const workers = Array.from({ length: 16 }, (_, w) => worker(w));
    while (confirmed.length < 50) await Bun.sleep(10);
    server.proc.kill("SIGKILL");
    await server.proc.exited;
    stop = true;
    await Promise.all(workers);

    expect(refused).toBeGreaterThan(0); // requests were in flight when it died
    const database = databaseUrlForProcess(file, tmp.dir);
    const rows = await queryDatabase(database, "SELECT id, bank_payment_id, amount_cents, status FROM payments");
    const byId = new Map(rows.map((r) => [r.id as number, r]));
    const lost = created.filter((c) => byId.get(c.id)?.amount_cents !== c.cents || !byId.get(c.id));
    expect(lost).toEqual([]);
    const unpaid = confirmed.filter((id) => byId.get(id)?.status !== "paid");
    expect(unpaid).toEqual([]);
    expect(created.length).toBeGreaterThanOrEqual(50);
  } finally {
    stop = true;
    await server.stop("SIGKILL");
    tmp.cleanup();
  }
}, 60_000);
