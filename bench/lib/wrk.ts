import { join } from "node:path";
import { cpuSeconds, LOADGEN_CPU } from "./proc.ts";

const LUA = join(import.meta.dir, "../lua");

export interface LoadResult {
  rps: number;
  requests: number;
  errors: number;
  non2xx: number;
  p50: number; // ms
  p90: number;
  p99: number;
  max: number;
  /** CPU of the load generator over the run, in % of one core. */
  generatorCpu: number;
  /** CPU of the server over the run, in % of one core. */
  serverCpu: number;
  /** Server CPU time per completed request, in µs: robust to other processes taking the core. */
  cpuPerRequestUs: number;
}

export type LoadSpec =
  | { kind: "template"; method: "POST"; path: string; auth: string; keyPrefix: string }
  | { kind: "file"; path: string; file: string };

let wrkChecked = false;
function ensureWrk(): void {
  if (wrkChecked) return;
  if (!Bun.which("wrk") && process.getuid?.() === 0 && Bun.which("apt-get")) {
    // `npm run bench` on a fresh machine: fetch the load generator from Debian, as .ci/run does for its tools.
    console.error("wrk is missing; installing it with apt-get");
    Bun.spawnSync(["sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk"], {
      stdout: "inherit",
      stderr: "inherit",
    });
  }
  if (!Bun.which("wrk")) {
    throw new Error("wrk is not installed: `apt-get install -y wrk` (Debian) — it is the load generator of this suite");
  }
  if (!Bun.which("taskset")) throw new Error("taskset is not installed (util-linux)");
  wrkChecked = true;
}

/** Runs wrk pinned to LOADGEN_CPU against baseUrl for `seconds`, and measures its CPU and the server's. */
export async function runLoad(
  baseUrl: string,
  spec: LoadSpec,
  o: { connections: number; seconds: number; serverPid: number },
): Promise<LoadResult> {
  ensureWrk();
  const script = join(LUA, spec.kind === "template" ? "template.lua" : "file.lua");
  const args = spec.kind === "template" ? [spec.method, spec.path, spec.auth, spec.keyPrefix] : [spec.file];
  const cmd = [
    "taskset",
    "-c",
    LOADGEN_CPU,
    "wrk",
    "-t1",
    `-c${o.connections}`,
    `-d${o.seconds}s`,
    "--timeout",
    "10s",
    "-s",
    script,
    `${baseUrl}${spec.path}`,
    "--",
    ...args,
  ];
  const serverBefore = cpuSeconds(o.serverPid);
  const started = performance.now();
  const proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  await proc.exited;
  const elapsed = (performance.now() - started) / 1000;
  const serverAfter = cpuSeconds(o.serverPid);
  const line = out.split("\n").find((l) => l.startsWith("BENCHJSON "));
  if (proc.exitCode !== 0 || !line) throw new Error(`wrk failed (${proc.exitCode}):\n${out}\n${err}`);
  const r = JSON.parse(line.slice("BENCHJSON ".length)) as {
    requests: number;
    duration_us: number;
    errors: Record<"connect" | "read" | "write" | "status" | "timeout", number>;
    latency_us: { p50: number; p90: number; p99: number; max: number };
  };
  const usage = proc.resourceUsage();
  const genCpu = usage ? Number(usage.cpuTime.total) / 1e6 : 0;
  const seconds = r.duration_us / 1e6;
  return {
    rps: r.requests / seconds,
    requests: r.requests,
    errors: r.errors.connect + r.errors.read + r.errors.write + r.errors.timeout,
    non2xx: r.errors.status,
    p50: r.latency_us.p50 / 1000,
    p90: r.latency_us.p90 / 1000,
    p99: r.latency_us.p99 / 1000,
    max: r.latency_us.max / 1000,
    generatorCpu: (100 * genCpu) / elapsed,
    serverCpu: (100 * (serverAfter - serverBefore)) / elapsed,
    cpuPerRequestUs: r.requests ? ((serverAfter - serverBefore) * 1e6) / r.requests : NaN,
  };
}
