import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "../..");
export const BUN = process.execPath;
/** Server on core 0, load generator on core 1 (this machine has 2). */
export const SERVER_CPU = "0";
export const LOADGEN_CPU = "1";

const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used so far, from /proc; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime
  } catch {
    return 0;
  }
}

export interface Served {
  name: string;
  url: string;
  pid: number;
  logFile: string;
  stop: () => Promise<void>;
}

/**
 * Starts a server process pinned to SERVER_CPU, stdout/stderr into a file (as a deployment's log
 * collector would take them), and waits until it prints its port.
 */
export async function startServer(opts: {
  name: string;
  script: string;
  env: Record<string, string>;
  cwd: string;
  logFile: string;
}): Promise<Served> {
  const fd = openSync(opts.logFile, "w");
  const proc = Bun.spawn(["taskset", "-c", SERVER_CPU, BUN, opts.script], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? "", PORT: "0", ...opts.env },
    stdout: fd,
    stderr: fd,
  });
  closeSync(fd);
  const deadline = Date.now() + 30_000;
  let port = 0;
  while (Date.now() < deadline && proc.exitCode === null) {
    const head = readFileSync(opts.logFile, "utf8").slice(0, 64 * 1024);
    const m = /listening on (?:http:\/\/localhost:)?(\d+)/.exec(head);
    if (m) {
      port = Number(m[1]);
      break;
    }
    await Bun.sleep(50);
  }
  if (!port) {
    proc.kill("SIGKILL");
    throw new Error(`${opts.name} did not start:\n${readFileSync(opts.logFile, "utf8").slice(0, 4000)}`);
  }
  return {
    name: opts.name,
    url: `http://127.0.0.1:${port}`,
    pid: proc.pid,
    logFile: opts.logFile,
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}
