/**
 * The ceiling of the merchant-webhook benchmark (bench/webhooks.ts): a bare loop of signed `fetch` POSTs, what
 * the dispatcher does per attempt minus the outbox (no claim, no read, no record). `concurrency` workers send
 * `count` copies of the body in the file, each with its own webhook-id and Standard Webhooks signature
 * (src/webhooks/standard-webhooks.ts), the sender's content-type and user-agent, and read each answer's body.
 *   bun bench/webhooks-ceiling.ts <url> <count> <concurrency> <body file>
 * Prints `CEILINGJSON {"sent","failed","seconds"}` when done.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { WEBHOOK_USER_AGENT } from "../src/outbound/sender.ts";
import { secretKey, signatureHeaders } from "../src/webhooks/standard-webhooks.ts";

const [url, countArg, concurrencyArg, bodyFile] = process.argv.slice(2);
if (!url || !countArg || !concurrencyArg || !bodyFile) {
  console.error("usage: bun bench/webhooks-ceiling.ts <url> <count> <concurrency> <body file>");
  process.exit(2);
}
const count = Number(countArg);
const concurrency = Number(concurrencyArg);
const body = readFileSync(bodyFile, "utf8");
const keys = [secretKey(`whsec_${randomBytes(24).toString("base64")}`)];

let next = 0;
let failed = 0;
async function worker() {
  while (next < count) {
    const i = next++;
    const headers = {
      ...signatureHeaders(keys, `evt_ceiling_${i}`, Math.floor(Date.now() / 1000), body),
      "content-type": "application/json",
      "user-agent": WEBHOOK_USER_AGENT,
    };
    try {
      const res = await fetch(url!, { method: "POST", headers, body, redirect: "manual" });
      await res.arrayBuffer();
      if (res.status < 200 || res.status >= 300) failed++;
    } catch {
      failed++;
    }
  }
}

const started = performance.now();
await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = (performance.now() - started) / 1000;
console.log(`CEILINGJSON ${JSON.stringify({ sent: count, failed, seconds })}`);
