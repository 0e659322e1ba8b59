import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { BUN, merchantHeaders, ROOT, restCreate, spawnServer, TEST_API_KEY, tempDir } from "./harness.ts";

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
