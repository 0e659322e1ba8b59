import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import pino from "pino";
import { createRedisBus } from "../src/bus/redis.ts";
import type { Bus, PaymentNews } from "../src/payments/events.ts";
import { BUN, ROOT, tempDir } from "./harness.ts";
import { startRedis, type TestRedis } from "./redis.ts";

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

const event: PaymentNews = { bankPaymentId: "00000000-0000-4000-8000-000000000001" };

test("an event leaves for the other instances before this instance's own listeners run", async () => {
  const tmp = tempDir();
  const flag = join(tmp.dir, "received");
  // Another "instance": a separate process subscribed to the bus channel, which marks the first message.
  const other = Bun.spawn(
    [
      BUN,
      "-e",
      `import { createClient } from "redis"; import { writeFileSync } from "node:fs";
       const c = createClient({ url: process.env.REDIS_URL }); await c.connect();
       await c.subscribe("payments:changed", () => { writeFileSync(process.env.FLAG, "x"); process.exit(0); });
       console.log("subscribed");`,
    ],
    { cwd: ROOT, env: { ...process.env, REDIS_URL: redis.url, FLAG: flag }, stdout: "pipe" },
  );
  let bus: Bus | undefined;
  try {
    const reader = (other.stdout as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain("subscribed");
    bus = await createRedisBus({ url: redis.url, logger: pino({ level: "silent" }) });
    // The local listener holds this thread for up to 2 s: the other process can only be told in that
    // time if the message was written to Redis before the listener started.
    let toldElsewhereFirst: boolean | undefined;
    const heard = new Promise<void>((resolve) =>
      bus!.subscribe(() => {
        const deadline = Date.now() + 2000;
        while (!existsSync(flag) && Date.now() < deadline) Bun.sleepSync(5);
        toldElsewhereFirst = existsSync(flag);
        resolve();
      }),
    );
    bus.publish(event);
    await heard;
    expect(toldElsewhereFirst).toBe(true);
  } finally {
    other.kill();
    await bus?.close();
    tmp.cleanup();
  }
});
