import { readFileSync } from "node:fs";
import { cpus, release, totalmem } from "node:os";
import { BUN } from "./proc.ts";

/** What the numbers were measured on. */
export function describeMachine() {
  const cpuModel = cpus()[0]?.model ?? "unknown";
  let fs = "";
  try {
    fs = readFileSync("/proc/mounts", "utf8");
  } catch {}
  const rootFs =
    fs
      .split("\n")
      .find((l) => l.split(" ")[1] === "/")
      ?.split(" ")[2] ?? "unknown";
  const run = (cmd: string[]) => {
    try {
      const r = Bun.spawnSync(cmd);
      return (r.stdout.toString() + r.stderr.toString()).trim().split("\n")[0] ?? "";
    } catch {
      return "not found";
    }
  };
  return {
    cpuModel,
    cores: cpus().length,
    ramGiB: totalmem() / 2 ** 30,
    kernel: release(),
    rootFs,
    bun: Bun.version,
    bunPath: BUN,
    node: run(["node", "--version"]) || "not found",
    wrk: run(["wrk", "--version"]) || "not found",
    loadavg: readFileSync("/proc/loadavg", "utf8").trim(),
  };
}
