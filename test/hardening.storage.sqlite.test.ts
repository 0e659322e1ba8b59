import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import {
  BUN,
  merchantHeaders,
  ROOT,
  restCreate,
  type ServerProcess,
  spawnServer,
  TEST_API_KEY,
  TEST_WEBHOOK_SECRET,
  tempDir,
  waitUntil,
} from "./harness.ts";

/**
 * Issue 10, item 8: a full disk or a read-only database is a 503 with Retry-After and /readyz 503 (never a
 * 500), the service recovers by itself when space is back, and start-up on an unwritable path stops with
 * one clear line. Real conditions: a small tmpfs filled up, an ext4 image turned read-only by the kernel
 * after an error, a tmpfs mounted read-only. These tests need root (mount); without it they fail, saying so.
 */

function run(command: string[]): void {
  const r = Bun.spawnSync(command, { stderr: "pipe", stdout: "pipe" });
  if (r.exitCode !== 0) {
    throw new Error(
      `\`${command.join(" ")}\` failed (${r.exitCode}): ${r.stderr.toString().trim()}. ` +
        "These tests mount real filesystems and need root with CAP_SYS_ADMIN (as in .ci/run).",
    );
  }
}

/** Fills the filesystem of `dir` with one file until it has no byte left; returns that file. */
function fillUp(dir: string): string {
  const file = join(dir, "filler");
  const fd = openSync(file, "w");
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512, 1]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

const createStatus = async (url: string) => {
  const res = await fetch(`${url}/payments`, { method: "POST", headers: merchantHeaders(), body: '{"value":10}' });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: (await res.json()) as any };
};
const readyz = async (url: string) => {
  const res = await fetch(`${url}/readyz`);
  return { status: res.status, body: (await res.json()) as any };
};

describe("a full disk", () => {
  const tmp = tempDir("payments-full-");
  let mounted = false;
  let server: ServerProcess | undefined;
  beforeAll(() => {
    run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", tmp.dir]);
    mounted = true;
  });
  afterAll(async () => {
    await server?.stop("SIGKILL");
    if (mounted) run(["umount", tmp.dir]);
    tmp.cleanup();
  });

  test("creates answer 503 Service unavailable with Retry-After and /readyz is 503; freeing space recovers", async () => {
    server = await spawnServer({ DATABASE_URL: join(tmp.dir, "payments.sqlite") });
    expect((await restCreate(server.url, 10)).status).toBe(200);
    const filler = fillUp(tmp.dir);

    let refused: Awaited<ReturnType<typeof createStatus>> | undefined;
    for (let i = 0; i < 2000 && !refused; i++) {
      const answer = await createStatus(server.url);
      if (answer.status !== 200) refused = answer;
    }
    expect(refused).toEqual({ status: 503, retryAfter: "5", body: { message: "Service unavailable" } });
    const trpc = await fetch(`${server.url}/trpc/payments.create`, {
      method: "POST",
      headers: merchantHeaders(),
      body: '{"value":10}',
    });
    expect(trpc.status).toBe(503);
    expect(trpc.headers.get("retry-after")).toBe("5");
    expect(((await trpc.json()) as any).error.message).toBe("Service unavailable");
    expect(await readyz(server.url)).toEqual({
      status: 503,
      body: { status: "unavailable", database: false, bus: true },
    });
    expect((await readyz(server.url)).status).toBe(503); // still: the probe write fails too

    rmSync(filler);
    await waitUntil(async () => (await readyz(server!.url)).status === 200, 5000, "ready again");
    expect((await createStatus(server.url)).status).toBe(200);
    expect(server.proc.exitCode).toBeNull(); // the same process: no restart
    expect(server.output()).not.toContain("unexpected error");
    expect(server.output()).not.toContain('"level":50');
  }, 60_000);
});

describe("a database whose disk turns read-only", () => {
  const tmp = tempDir("payments-ro-");
  const image = join(tmp.dir, "disk.img");
  const dir = join(tmp.dir, "mnt");
  let mounted = false;
  let server: ServerProcess | undefined;
  beforeAll(() => {
    run(["mkdir", "-p", dir]);
    run(["truncate", "-s", "16M", image]);
    run(["mkfs.ext4", "-q", "-F", image]);
    // errors=remount-ro: what ext4 does on a disk error in production, forced read-only under open files.
    run(["mount", "-o", "loop,errors=remount-ro", image, dir]);
    mounted = true;
  });
  afterAll(async () => {
    await server?.stop("SIGKILL");
    if (mounted) run(["umount", dir]);
    tmp.cleanup();
  });

  test("creates answer 503 with Retry-After and /readyz is 503, never a 500", async () => {
    server = await spawnServer({ DATABASE_URL: join(dir, "payments.sqlite") });
    expect((await restCreate(server.url, 10)).status).toBe(200);
    const device = Bun.spawnSync(["findmnt", "-n", "-o", "SOURCE", dir]).stdout.toString().trim();
    // ext4's own test hook: it reports an error, and with errors=remount-ro the kernel makes the mount read-only.
    writeFileSync(`/sys/fs/ext4/${device.replace("/dev/", "")}/trigger_fs_error`, "hardening test\n");
    expect(Bun.spawnSync(["findmnt", "-n", "-o", "OPTIONS", dir]).stdout.toString()).toMatch(/^ro,|emergency_ro/);

    const refused = await createStatus(server.url);
    expect(refused).toEqual({ status: 503, retryAfter: "5", body: { message: "Service unavailable" } });
    expect(await readyz(server.url)).toEqual({
      status: 503,
      body: { status: "unavailable", database: false, bus: true },
    });
    // Reads still work where they can: the payment created before is there.
    expect((await fetch(`${server.url}/payments/1`, { headers: merchantHeaders() })).status).toBe(200);
    expect(server.output()).not.toContain("unexpected error");
  }, 60_000);
});

/** Runs `bun src/index.ts` to its end (it must not start) and returns its exit code and what it printed. */
function startUnstartable(databaseUrl: string) {
  const proc = Bun.spawnSync([BUN, join(ROOT, "src/index.ts")], {
    cwd: tempDir("payments-proc-").dir,
    env: {
      PATH: process.env.PATH ?? "",
      NODE_ENV: "test",
      PORT: "0",
      API_KEYS: TEST_API_KEY,
      WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      DATABASE_URL: databaseUrl,
    },
    stdout: "pipe",
    stderr: "pipe",
    timeout: 15_000,
  });
  return { code: proc.exitCode, stdout: proc.stdout.toString(), stderr: proc.stderr.toString() };
}

describe("start-up on an unwritable database stops with one clear line", () => {
  const tmp = tempDir("payments-startup-");
  const dir = join(tmp.dir, "ro");
  let mounted = false;
  beforeAll(() => {
    run(["mkdir", "-p", dir]);
    run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir]);
    mounted = true;
  });
  afterAll(() => {
    if (mounted) run(["umount", dir]);
    tmp.cleanup();
  });

  test("a database on a read-only mount", async () => {
    const file = join(dir, "payments.sqlite");
    const first = await spawnServer({ DATABASE_URL: file });
    expect((await restCreate(first.url, 10)).status).toBe(200);
    expect(await first.stop()).toBe(0);
    run(["mount", "-o", "remount,ro", dir]);

    const { code, stdout, stderr } = startUnstartable(file);
    expect(code).toBe(1);
    expect(stdout).not.toContain("listening");
    // SQLite cannot open a WAL database read-only without its -shm: SQLITE_CANTOPEN (or READONLY).
    const lines = stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^Cannot open the database ${file}: .*\\((SQLITE_CANTOPEN|SQLITE_READONLY)\\); the database file and its folder must .* be writable$`,
      ),
    );
  }, 30_000);

  test("a folder that cannot be created", () => {
    const notAFolder = join(tmp.dir, "a-file");
    writeFileSync(notAFolder, "");
    const { code, stderr } = startUnstartable(join(notAFolder, "payments.sqlite"));
    expect(code).toBe(1);
    const lines = stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^Cannot open the database ${notAFolder}/payments.sqlite: EEXIST: .*; the database file and its folder must`,
      ),
    );
  });
});
