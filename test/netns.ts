/**
 * A private test network of "hosts": network namespaces (`ip netns`) joined by veth pairs to a bridge on
 * this machine, on a /24 of 10.213.0.0/16 that nothing here uses. The machine keeps `.1` on the bridge (for
 * PostgreSQL and Redis); host i gets `.(11 + i)`. Names carry this process's pid, so a later run can tell a
 * crashed run's leftovers (pid gone) from a run still going, and remove only those.
 */

const NS_PREFIX = "pxhosts-";
/** Link names: pxh<pid>br (the bridge), pxh<pid>v<letter> and pxh<pid>p<letter> (a veth pair); ≤ 15 characters. */
const LINK = /^pxh(\d+)(br|[vp][a-z])$/;
const NS = /^pxhosts-(\d+)-[a-z]$/;

export interface TestHost {
  name: string;
  /** The namespace's name, for `ip netns exec`. */
  ns: string;
  address: string;
  /** Prefix that runs a command on this host. */
  exec: string[];
}

export interface TestNetwork {
  /** e.g. 10.213.57.0/24 */
  subnet: string;
  /** This machine's address on the test network (the bridge's). */
  hostAddress: string;
  hosts: TestHost[];
  /** Kills what still runs in the namespaces and removes them, their links and the bridge. Idempotent. */
  remove(): void;
}

function ip(args: string[], options: { check?: boolean } = {}): string {
  let run: ReturnType<typeof Bun.spawnSync>;
  try {
    run = Bun.spawnSync(["ip", ...args], { stdout: "pipe", stderr: "pipe" });
  } catch (err) {
    if (options.check === false) return "";
    throw err;
  }
  if (options.check !== false && run.exitCode !== 0) {
    throw new Error(`ip ${args.join(" ")} failed (${run.exitCode}): ${run.stderr?.toString().trim()}`);
  }
  return run.stdout?.toString() ?? "";
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

function deleteNamespace(ns: string) {
  // A namespace outlives `ip netns del` while processes run in it; kill them first.
  for (const pid of ip(["netns", "pids", ns], { check: false }).split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {}
  }
  ip(["netns", "del", ns], { check: false });
}

const namespaces = () =>
  ip(["netns", "list"], { check: false })
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter(Boolean);

const links = () =>
  ip(["-o", "link", "show"], { check: false })
    .split("\n")
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? "")
    .filter(Boolean);

/** Removes namespaces and links of earlier runs of these tests whose process is gone. */
export function removeLeftovers(): string[] {
  const removed: string[] = [];
  for (const ns of namespaces()) {
    const m = NS.exec(ns);
    if (m && !alive(Number(m[1]))) {
      deleteNamespace(ns);
      removed.push(ns);
    }
  }
  for (const link of links()) {
    const m = LINK.exec(link);
    if (m && !alive(Number(m[1]))) {
      ip(["link", "del", link], { check: false });
      removed.push(link);
    }
  }
  return removed;
}

/** Fails (never skips) when this machine cannot make namespaces, saying what is needed. */
export function requireNetns(): void {
  let problem = "";
  try {
    const run = Bun.spawnSync(["ip", "netns", "list"], { stdout: "pipe", stderr: "pipe" });
    if (run.exitCode !== 0) problem = run.stderr.toString().trim();
  } catch (err) {
    problem = (err as Error).message;
  }
  if (!problem && process.getuid?.() !== 0) problem = "not running as root";
  if (problem) {
    throw new Error(
      "`ip netns` is unavailable: these tests make network namespaces and need iproute2 " +
        `(apt-get install iproute2) and root (CAP_NET_ADMIN); ${problem}`,
    );
  }
}

/** A /24 of 10.213.0.0/16 with no address and no route on this machine. */
function freeSubnet(): string {
  const addresses = ip(["-4", "-o", "addr", "show"]);
  for (let attempt = 0; attempt < 50; attempt++) {
    const third = 1 + Math.floor(Math.random() * 254);
    const subnet = `10.213.${third}.0/24`;
    if (addresses.includes(` 10.213.${third}.`)) continue;
    // Routes inside the /24, and routes containing it other than the default route.
    const inside = ip(["-4", "route", "show", "root", subnet]).trim();
    const around = ip(["-4", "route", "show", "match", subnet])
      .split("\n")
      .filter((l) => l.trim() && !l.startsWith("default"));
    if (!inside && around.length === 0) return subnet;
  }
  throw new Error("no free /24 in 10.213.0.0/16 for the test network");
}

/** Makes the bridge and one namespace per name ("a", "b", …), each with its own address. */
export function createTestNetwork(names: string[]): TestNetwork {
  requireNetns();
  removeLeftovers();
  const pid = process.pid;
  const subnet = freeSubnet();
  const base = subnet.replace(/\.0\/24$/, "");
  const bridge = `pxh${pid}br`;
  const made: { namespaces: string[]; links: string[] } = { namespaces: [], links: [] };
  let removed = false;
  const remove = () => {
    if (removed) return;
    removed = true;
    for (const ns of made.namespaces) deleteNamespace(ns);
    for (const link of made.links) ip(["link", "del", link], { check: false });
  };
  // Should this process die before its afterAll (bun test runs no exit handlers), a watchdog shell removes
  // the network once the process is gone.
  const namespacesToGo = names.map((n) => `${NS_PREFIX}${pid}-${n}`);
  const watchdog = Bun.spawn(
    [
      "sh",
      "-c",
      `while kill -0 ${pid} 2>/dev/null; do sleep 0.5; done; for ns in ${namespacesToGo.join(" ")}; do ` +
        `for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p"; done; ip netns del "$ns" 2>/dev/null; done; ` +
        `ip link del ${bridge} 2>/dev/null`,
    ],
    { stdio: ["ignore", "ignore", "ignore"] },
  );
  watchdog.unref();
  try {
    ip(["link", "add", bridge, "type", "bridge"]);
    made.links.push(bridge);
    ip(["addr", "add", `${base}.1/24`, "dev", bridge]);
    ip(["link", "set", bridge, "up"]);
    const hosts = names.map((name, i): TestHost => {
      if (!/^[a-z]$/.test(name)) throw new Error(`host names are single letters, not ${name}`);
      const ns = `${NS_PREFIX}${pid}-${name}`;
      const outside = `pxh${pid}v${name}`;
      const inside = `pxh${pid}p${name}`;
      const address = `${base}.${11 + i}`;
      ip(["netns", "add", ns]);
      made.namespaces.push(ns);
      ip(["link", "add", outside, "type", "veth", "peer", "name", inside]);
      made.links.push(outside);
      ip(["link", "set", outside, "master", bridge, "up"]);
      ip(["link", "set", inside, "netns", ns]);
      ip(["-n", ns, "link", "set", inside, "name", "eth0"]);
      ip(["-n", ns, "addr", "add", `${address}/24`, "dev", "eth0"]);
      ip(["-n", ns, "link", "set", "eth0", "up"]);
      ip(["-n", ns, "link", "set", "lo", "up"]);
      return { name, ns, address, exec: ["ip", "netns", "exec", ns] };
    });
    return { subnet, hostAddress: `${base}.1`, hosts, remove };
  } catch (err) {
    remove();
    throw err;
  }
}

/** What remains of this process's test network (namespaces and links), to check that it is gone. */
export function ownNetworkLeft(): string[] {
  const pid = String(process.pid);
  return [
    ...namespaces().filter((ns) => NS.exec(ns)?.[1] === pid),
    ...links().filter((link) => LINK.exec(link)?.[1] === pid),
  ];
}
