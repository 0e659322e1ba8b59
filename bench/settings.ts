/**
 * The suite's settings: the command-line flags (described in bench/run.ts), the sizes and durations they imply,
 * the keys the real server is started with, and the log line every part of the run prints through.
 */
import { join } from "node:path";
import { Webhook } from "standardwebhooks";
import { ROOT } from "./lib/proc.ts";
import { signature } from "./lib/seed.ts";

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(name);
const option = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
export const QUICK = flag("--quick");
/** The other checkout whose real server runs beside this one (`--baseline <dir>`). */
export const BASELINE = option("--baseline");
export const ONLY = option("--only")?.split(",");
export const OUT = option("--out") ?? join(ROOT, "docs/benchmarks.md");
/** A saved run's raw results to re-render the report from, without measuring (`--render <file>`). */
export const RENDER = option("--render");
/** The command as typed, for the report's first line. */
export const COMMAND = `npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}`;

export const ROUNDS = QUICK ? 2 : 5;
export const SECONDS = QUICK ? 2 : 5;
export const WARMUP_SECONDS = QUICK ? 1 : 3;
export const CONNECTIONS = 32;
export const SEED_ROWS = QUICK ? 20_000 : 100_000;
export const GROWTH_SIZES = QUICK ? [1_000, 10_000, 100_000] : [1_000, 100_000, 1_000_000];
export const GROWTH_REPEATS = 3;
export const GROWTH_SECONDS = QUICK ? 1 : 3;
export const GROWTH_CONNECTIONS = 1;
export const SUSTAIN_SECONDS = QUICK ? 10 : 60;
/** A run where wrk used this much of its core (%) is flagged: the figure may be the generator's limit. */
export const GENERATOR_LIMIT = 90;
export const LOG_LEVEL_MAIN = "info";

export const API_KEY = "sk_bench_0123456789abcdef0123";
export const AUTH = `Bearer ${API_KEY}`;
export const WEBHOOK_SECRET = `whsec_${Buffer.from("bench-webhook-secret-32-bytes-long!").toString("base64")}`;

// Our HMAC must be the one standardwebhooks verifies, or every confirmation would be a 401.
{
  const probe = new Webhook(WEBHOOK_SECRET).sign("msg_probe", new Date(1_700_000_000_000), '{"a":1}');
  if (probe !== signature(WEBHOOK_SECRET, "msg_probe", 1_700_000_000, '{"a":1}')) throw new Error("signature mismatch");
}

export const startedAt = new Date();
export const log = (...a: unknown[]) =>
  console.log(`[bench ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)}s]`, ...a);
