/**
 * Measuring: one wrk run of a variant (a server and what is asked of it), the samples kept per variant, the
 * rounds that alternate the variants of a group, the WAL watch, and the medians and within-round ratios that
 * both the `--only` summary and the report are made of.
 */
import { statSync } from "node:fs";
import type { Served } from "./lib/proc.ts";
import { addPendingPayments, countPaid, writeConfirmRequests } from "./lib/seed.ts";
import { fmt, median } from "./lib/stats.ts";
import { type LoadResult, type LoadSpec, runLoad } from "./lib/wrk.ts";
import {
  AUTH,
  CONNECTIONS,
  GENERATOR_LIMIT,
  log,
  ROUNDS,
  SECONDS,
  WARMUP_SECONDS,
  WEBHOOK_SECRET,
} from "./settings.ts";

export type Kind = "json" | "create" | "get" | "list" | "confirm" | "qr";

export interface Variant {
  id: string;
  label: string;
  server: Served;
  kind: Kind;
  /** Real app variants: the path they call (REST or tRPC). */
  path?: string;
  /** Needs the merchant key. */
  auth?: boolean;
  /** Signed webhooks (real) or plain (ceiling). */
  signed?: boolean;
  database?: string;
  requestFile?: string;
}

export interface Sample extends LoadResult {
  round: number;
  transitions?: number;
}

/** Every sample of the run by variant id (plus "sustained"); saved with the raw results for --render. */
export const samples = new Map<string, Sample[]>();
/** Largest -wal sizes seen (and the end sizes), by name; saved with the raw results for --render. */
export const walWatch = new Map<string, number>();
let keyCounter = 0;
const lastRps = new Map<string, number>();

export async function measure(v: Variant, seconds: number, connections: number, round: number): Promise<Sample> {
  let spec: LoadSpec;
  let batch: ReturnType<typeof addPendingPayments> | undefined;
  switch (v.kind) {
    case "json":
    case "create":
      spec = {
        kind: "template",
        method: "POST",
        path: v.path ?? "/payments",
        auth: v.auth ? AUTH : "",
        keyPrefix: `k${++keyCounter}`,
      };
      break;
    case "get":
    case "list":
      spec = { kind: "file", path: "/payments", file: v.requestFile! };
      break;
    case "qr":
      spec = { kind: "file", path: "/pay", file: v.requestFile! };
      break;
    case "confirm": {
      // Fresh pending payments for this run, one signed delivery each: every request is a real transition
      // until the list runs out; after that wrk starts over and the rest are valid repeats (counted below).
      const expected = Math.max(lastRps.get(v.id) ?? 0, v.signed ? 4_000 : 15_000);
      const size = Math.min(400_000, Math.ceil(expected * seconds * 1.6));
      batch = addPendingPayments(v.database!, size);
      writeConfirmRequests(v.requestFile!, batch, v.signed ? WEBHOOK_SECRET : null);
      spec = { kind: "file", path: "/payments/pix/confirmation", file: v.requestFile! };
      break;
    }
  }
  const r = await runLoad(v.server.url, spec, { connections, seconds, serverPid: v.server.pid });
  const sample: Sample = { ...r, round };
  if (batch) sample.transitions = countPaid(v.database!, batch);
  lastRps.set(v.id, Math.max(r.rps, lastRps.get(v.id) ?? 0));
  return sample;
}

function record(v: Variant, s: Sample) {
  const list = samples.get(v.id) ?? [];
  list.push(s);
  samples.set(v.id, list);
  const flagGen = s.generatorCpu >= GENERATOR_LIMIT ? " GENERATOR-LIMITED" : "";
  log(
    `${v.id.padEnd(22)} r${s.round} ${fmt(s.rps).padStart(7)} req/s  p50 ${fmt(s.p50, 2)} ms  p99 ${fmt(s.p99, 2)} ms  ` +
      `gen ${fmt(s.generatorCpu)}%  srv ${fmt(s.serverCpu)}%  non2xx ${s.non2xx}  err ${s.errors}` +
      (s.transitions !== undefined ? `  transitions ${s.transitions}/${s.requests}` : "") +
      flagGen,
  );
}

/** Runs the groups round by round; within a group the order flips every round, so drift hits both sides. */
export async function rounds(groups: Variant[][]) {
  for (const group of groups) for (const v of group) await measure(v, WARMUP_SECONDS, CONNECTIONS, 0);
  for (let round = 1; round <= ROUNDS; round++) {
    log(`round ${round}/${ROUNDS}`);
    for (const group of groups) {
      const order = round % 2 ? group : [...group].reverse();
      for (const v of order) record(v, await measure(v, SECONDS, CONNECTIONS, round));
    }
  }
}

/** Samples the size of `database`'s -wal file every 100 ms into walWatch[name]; returns the stop function. */
export function watchWal(name: string, database: string): () => void {
  const timer = setInterval(() => {
    try {
      const size = statSync(`${database}-wal`).size;
      if (size > (walWatch.get(name) ?? 0)) walWatch.set(name, size);
    } catch {}
  }, 100);
  return () => clearInterval(timer);
}

// ---------------------------------------------------------------------------------------------- summaries
export const med = (id: string, f: (s: Sample) => number) => median((samples.get(id) ?? []).map(f));
/** Median over rounds of real/ceiling (or any a/b), each ratio taken within one round. */
export function ratio(realId: string, ceilingId: string): number {
  const real = samples.get(realId) ?? [];
  const ceil = new Map((samples.get(ceilingId) ?? []).map((s) => [s.round, s.rps]));
  return median(real.filter((s) => ceil.has(s.round)).map((s) => s.rps / ceil.get(s.round)!));
}
/** Median over rounds of (ceiling CPU per request / real CPU per request): the noise-robust cross-check. */
export function cpuRatio(realId: string, ceilingId: string): number {
  const real = samples.get(realId) ?? [];
  const ceil = new Map((samples.get(ceilingId) ?? []).map((s) => [s.round, s.cpuPerRequestUs]));
  return median(real.filter((s) => ceil.has(s.round)).map((s) => ceil.get(s.round)! / s.cpuPerRequestUs));
}
export const genLimited = (id: string) => (samples.get(id) ?? []).some((s) => s.generatorCpu >= GENERATOR_LIMIT);
