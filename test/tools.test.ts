import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  BUN,
  merchantHeaders,
  ROOT,
  restConfirm,
  restCreate,
  spawnServer,
  TEST_API_KEY,
  TEST_WEBHOOK_SECRET,
  tempDir,
} from "./harness.ts";
import { freePort } from "./redis.ts";

/** Runs a developer script the way npm run does, in a folder of its own; resolves with what it printed. */
async function runScript(script: string, args: string[], env: Record<string, string>, timeoutMs = 10_000) {
  const tmp = tempDir();
  const started = Date.now();
  const proc = Bun.spawn([BUN, join(ROOT, "scripts", script), ...args], {
    cwd: tmp.dir,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  try {
    const [code, stdout, stderr] = await Promise.all([
      proc.exited,
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    return { code, stdout, stderr, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
    tmp.cleanup();
  }
}

describe("npm run bank:confirm (the bank simulator)", () => {
  test("signs with the development secret kept in ./data/ and confirms the payment", async () => {
    const tmp = tempDir();
    // No API_KEYS / WEBHOOK_SECRET: the server generates them into <cwd>/data/, as on a developer's machine.
    const server = await spawnServer({ API_KEYS: "", WEBHOOK_SECRET: "" }, tmp.dir);
    try {
      const secrets = JSON.parse(await Bun.file(join(tmp.dir, "data/dev-secrets.json")).text());
      const created = await restCreate(server.url, 254.3, merchantHeaders(secrets.api_key));
      expect(created.status).toBe(200);
      const bankPaymentId = created.body.payment.bank_payment_id;
      const run = (value: string) =>
        Bun.spawnSync([BUN, join(ROOT, "scripts/bank-confirm.ts"), bankPaymentId, value], {
          cwd: tmp.dir,
          env: { PATH: process.env.PATH ?? "", PORT: String(server.port) },
        });
      const wrong = run("254.31");
      expect(wrong.exitCode).toBe(1);
      expect(wrong.stdout.toString()).toContain('400 {"message":"Invalid payment data"}');
      const ok = run("254.30");
      expect(ok.stdout.toString()).toContain('200 {"message":"The payment has been confirmed"}');
      expect(ok.exitCode).toBe(0);
      const read = await fetch(`${server.url}/payments/${created.body.payment.id}`, {
        headers: merchantHeaders(secrets.api_key),
      });
      expect(((await read.json()) as any).payment.status).toBe("paid");
    } finally {
      await server.stop();
      tmp.cleanup();
    }
  });

  test("without a secret it says how to get one", () => {
    const tmp = tempDir();
    try {
      const run = Bun.spawnSync([BUN, join(ROOT, "scripts/bank-confirm.ts"), "x", "1"], {
        cwd: tmp.dir,
        env: { PATH: process.env.PATH ?? "" },
      });
      expect(run.exitCode).toBe(2);
      expect(run.stderr.toString()).toContain("WEBHOOK_SECRET");
    } finally {
      tmp.cleanup();
    }
  });
});

describe("the developer scripts say where they connect, and stop when nothing answers there", () => {
  test("bank:confirm against a closed port names the URL it tried and exits 1 at once", async () => {
    const port = await freePort();
    const r = await runScript("bank-confirm.ts", [crypto.randomUUID(), "10"], {
      PORT: String(port),
      WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`POST http://localhost:${port}/payments/pix/confirmation`);
    expect(r.stderr).toContain(`Nothing answers at http://localhost:${port}`);
    expect(r.stderr).toContain("npm start");
    expect(r.ms).toBeLessThan(5000);
  });

  test("bank:confirm honours PAYMENTS_URL over PORT", async () => {
    const port = await freePort();
    const r = await runScript("bank-confirm.ts", [crypto.randomUUID(), "10"], {
      PORT: "1",
      PAYMENTS_URL: `http://127.0.0.1:${port}/`,
      WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`POST http://127.0.0.1:${port}/payments/pix/confirmation`);
  });

  test("watch against a closed port names the URL it tried and exits 1 instead of retrying for ever", async () => {
    const port = await freePort();
    const r = await runScript("watch.ts", [crypto.randomUUID()], { PORT: String(port) });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`connecting to ws://localhost:${port}/ws?bank_payment_id=`);
    expect(r.stderr).toContain(`Nothing answers at http://localhost:${port}`);
    expect(r.stderr).toContain("npm start");
    expect(r.ms).toBeLessThan(5000);
  });

  test("watch on PORT prints the payment's states and exits 0 once it is paid", async () => {
    const server = await spawnServer({});
    try {
      const { payment } = (await restCreate(server.url, 12.5)).body;
      const watching = runScript("watch.ts", [payment.bank_payment_id], { PORT: String(server.port) });
      await Bun.sleep(300);
      expect((await restConfirm(server.url, { bank_payment_id: payment.bank_payment_id, value: 12.5 })).status).toBe(
        200,
      );
      const r = await watching;
      expect(r.code).toBe(0);
      const states = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l).payment.status);
      expect(states.at(-1)).toBe("paid");
      expect(r.stderr).toContain(`watching ${payment.bank_payment_id} on ws://localhost:${server.port}/ws`);
    } finally {
      await server.stop();
    }
  });
});

describe("npm start", () => {
  test("serves on PORT with the embedded defaults, and SIGTERM to npm stops it with exit 0", async () => {
    const tmp = tempDir();
    const port = 20000 + Math.floor(Math.random() * 20000);
    const npm = Bun.spawn(["npm", "start", "--silent"], {
      cwd: ROOT,
      env: {
        PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH ?? ""}`,
        PORT: String(port),
        DATABASE_URL: join(tmp.dir, "payments.sqlite"),
        API_KEYS: TEST_API_KEY,
        WEBHOOK_SECRET: `whsec_${Buffer.from("npm-start-test-secret-of-length").toString("base64")}`,
        LOG_LEVEL: "warn",
      },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      let ready = false;
      for (let i = 0; i < 100 && !ready; i++) {
        ready = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!ready) await Bun.sleep(100);
      }
      expect(ready).toBe(true);
      expect((await restCreate(`http://127.0.0.1:${port}`, 10)).status).toBe(200);
      npm.kill("SIGTERM");
      expect(await npm.exited).toBe(0);
      const stillUp = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        () => true,
        () => false,
      );
      expect(stillUp).toBe(false);
    } finally {
      if (npm.exitCode === null) npm.kill("SIGKILL");
      tmp.cleanup();
    }
  });
});
