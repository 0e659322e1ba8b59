import { afterAll, beforeAll, expect, test } from "bun:test";
import { EXPIRY_CHUNK } from "../src/payments/service.ts";
import { startTestApp, type TestApp } from "./harness.ts";

/**
 * Issue 10, item 10: 60,000 payments expiring in one tick stalled the event loop ~400 ms. The sweep works
 * in chunks of EXPIRY_CHUNK rows, each its own write, and yields between them.
 */
let app: TestApp;
beforeAll(() => {
  app = startTestApp();
});
afterAll(() => app.stop());

const DUE = 60_000;

test("60,000 payments due at once are expired and announced without stalling the event loop for long", async () => {
  expect(EXPIRY_CHUNK).toBe(1000);
  const now = app.clock.now();
  // Written straight into the database (as if created over the last half hour), so the test spends its
  // time on the sweep, not on 60,000 creates.
  for (let first = 0; first < DUE; first += 1000) {
    const rows = Array.from(
      { length: 1000 },
      (_, i) => `('${crypto.randomUUID()}', 100, 'pending', 'x', ${now - 1_800_000 + first + i}, ${now - 1})`,
    );
    await app.query(
      `INSERT INTO payments (bank_payment_id, amount_cents, status, br_code, created_at, expires_at) VALUES ${rows.join(", ")}`,
    );
  }
  // The inserts' own checkpoint is not the sweep's cost.
  if (app.backend === "sqlite") await app.query("PRAGMA wal_checkpoint(TRUNCATE)");
  let announced = 0;
  const off = app.bus.subscribe(() => announced++);

  // The longest gap between two runs of a 1 ms timer while the sweep runs: how long anything else waited.
  let last = performance.now();
  let longest = 0;
  let ticks = 0;
  const probe = setInterval(() => {
    ticks++;
    const t = performance.now();
    longest = Math.max(longest, t - last);
    last = t;
  }, 1);
  const started = performance.now();
  const expired = await app.service.expireDue();
  const took = performance.now() - started;
  clearInterval(probe);
  longest = Math.max(longest, performance.now() - last); // the gap the sweep's end closed
  off();

  console.log(
    `swept ${expired.length} in ${took.toFixed(0)} ms; other work ran ${ticks} times, longest stall ${longest.toFixed(1)} ms`,
  );
  expect(expired).toHaveLength(DUE);
  expect(announced).toBe(DUE);
  expect((await app.query("SELECT COUNT(*) AS n FROM payments WHERE status = 'pending'"))[0]).toEqual({ n: 0 });
  expect((await app.query("SELECT COUNT(*) AS n FROM payment_events WHERE type = 'expired'"))[0]).toEqual({ n: DUE });
  // One chunk takes a few milliseconds; in one write the whole sweep held it
  // (about 1.3 s here; ~400 ms on the machine of the trial).
  // Other work ran between the chunks (a timer, here), and no chunk held the loop for long. Wall-clock
  // bounds are loose: this machine is shared, and a descheduled process stalls too.
  expect(ticks).toBeGreaterThanOrEqual(30); // 60 chunks of 1,000
  expect(longest).toBeLessThan(took / 4);
  expect(longest).toBeLessThan(300);
});
