/**
 * The developer tools of the bank side, as real processes (CONTRACT §11): `npm run bank:pay` pays a charge
 * with a signed pix[] callback; `npm run bank:psp` serves the API Pix a second instance points PSP_API_URL at,
 * so a charge paid by bank:pay, refunded through the REST API, settles by the simulator's callback.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET } from "../scripts/bank-psp.ts";
import {
  BUN,
  merchantHeaders,
  ROOT,
  restCreate,
  restGet,
  restRefund,
  spawnServer,
  TEST_WEBHOOK_SECRET,
  tempDir,
  waitUntil,
} from "./harness.ts";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const clean of cleanups.splice(0).reverse()) await clean();
});
/** The scripts' working folder: no ./data/ in it, so nothing but the given environment counts. */
const scratch = tempDir("bank-tools-");
afterAll(() => scratch.cleanup());

/** Runs a script of scripts/ to its end; PATH only, plus `env`. */
function runScript(name: string, args: string[], env: Record<string, string>, cwd = scratch.dir) {
  const run = Bun.spawnSync([BUN, join(ROOT, "scripts", name), ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "", ...env },
  });
  return { code: run.exitCode, out: run.stdout.toString(), err: run.stderr.toString() };
}

/** A port nothing listens on now. */
function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** Starts `bun scripts/bank-psp.ts` and waits for the port it prints. */
async function startBankPsp(env: Record<string, string>) {
  const proc = Bun.spawn([BUN, join(ROOT, "scripts/bank-psp.ts")], {
    cwd: scratch.dir,
    env: { PATH: process.env.PATH ?? "", BANK_PSP_PORT: "0", ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
  cleanups.push(async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  });
  let out = "";
  void (async () => {
    for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) out += new TextDecoder().decode(chunk);
  })();
  await waitUntil(() => /listening on http:\/\/localhost:\d+/.test(out), 10_000, "bank:psp to listen");
  const port = Number(/listening on http:\/\/localhost:(\d+)/.exec(out)![1]);
  return { url: `http://127.0.0.1:${port}`, output: () => out };
}

describe("npm run bank:pay", () => {
  test("pays a charge with a signed pix[] callback and a fresh, well-formed endToEndId", async () => {
    const server = await spawnServer({});
    cleanups.push(() => server.stop());
    const payment = (await restCreate(server.url, 254.3)).body.payment;
    const run = runScript("bank-pay.ts", [payment.bank_payment_id, "254.30"], {
      PORT: String(server.port),
      WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    });
    expect(run.out).toContain(`→ POST http://localhost:${server.port}/webhooks/pix`);
    expect(run.out).toContain('200 {"message":"Received"}');
    expect(run.code).toBe(0);
    const read = (await restGet(server.url, `/payments/${payment.id}`)).body.payment;
    expect(read.status).toBe("paid");
    expect(read.end_to_end_id).toMatch(/^E\d{8}\d{12}[A-Za-z0-9]{11}$/);
    expect(run.out).toContain(
      `Pix ${read.end_to_end_id} (txid ${payment.bank_payment_id.replace(/-/g, "").slice(0, 25)}`,
    );
  });

  test("says what is wrong and which URL it tried when nothing answers", () => {
    const closed = String(freePort());
    const usage = runScript("bank-pay.ts", [], { WEBHOOK_SECRET: TEST_WEBHOOK_SECRET });
    expect(usage.code).toBe(2);
    expect(usage.err).toContain("usage: npm run bank:pay -- <bank_payment_id> <value>");
    const noSecret = runScript("bank-pay.ts", ["x", "1"], {});
    expect(noSecret.code).toBe(2);
    expect(noSecret.err).toContain("WEBHOOK_SECRET");
    const noService = runScript("bank-pay.ts", ["x", "1"], { WEBHOOK_SECRET: TEST_WEBHOOK_SECRET, PORT: closed });
    expect(noService.code).toBe(1);
    expect(noService.err).toContain(`Could not reach http://localhost:${closed}`);
    const noPsp = runScript("bank-pay.ts", ["x", "1"], {
      WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      PSP_API_URL: `http://127.0.0.1:${closed}`,
    });
    expect(noPsp.code).toBe(1);
    expect(noPsp.err).toContain(
      `Could not reach the PSP simulator at http://127.0.0.1:${closed} (is \`npm run bank:psp\` running?)`,
    );
  });
});

describe("npm run bank:psp with a second process", () => {
  test("says so when its port is taken, or when it has nothing to sign callbacks with", async () => {
    const first = await startBankPsp({ WEBHOOK_SECRET: TEST_WEBHOOK_SECRET });
    const port = new URL(first.url).port;
    const taken = runScript("bank-psp.ts", [], { WEBHOOK_SECRET: TEST_WEBHOOK_SECRET, BANK_PSP_PORT: port });
    expect(taken.code).toBe(1);
    expect(taken.err).toContain(`Could not listen on port ${port}`);
    const unsigned = runScript("bank-psp.ts", [], { BANK_PSP_PORT: "0" });
    expect(unsigned.code).toBe(2);
    expect(unsigned.err).toContain("No WEBHOOK_SECRET (or PSP_WEBHOOK_TOKEN) set");
  });

  test("pay with bank:pay, refund part, then the rest: refunded_value and the checkout page follow", async () => {
    const servicePort = freePort();
    const psp = await startBankPsp({
      PAYMENTS_URL: `http://127.0.0.1:${servicePort}`,
      WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
      BANK_PSP_SETTLE_MS: "100",
    });
    expect(psp.output()).toContain(
      `PSP_CLIENT_ID=${DEFAULT_CLIENT_ID} PSP_CLIENT_SECRET=${DEFAULT_CLIENT_SECRET} npm start`,
    );
    const server = await spawnServer({
      PORT: String(servicePort),
      PSP_API_URL: psp.url,
      PSP_CLIENT_ID: DEFAULT_CLIENT_ID,
      PSP_CLIENT_SECRET: DEFAULT_CLIENT_SECRET,
    });
    cleanups.push(() => server.stop());
    const payment = (await restCreate(server.url, 254.3)).body.payment;

    const paid = runScript("bank-pay.ts", [payment.bank_payment_id, "254.30"], {
      PAYMENTS_URL: server.url,
      PSP_API_URL: psp.url,
      WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    });
    expect(paid.out).toContain('200 {"message":"Received"}');
    expect((await restGet(server.url, `/payments/${payment.id}`)).body.payment.status).toBe("paid");

    expect((await restRefund(server.url, payment.id, { value: 100, reason: "Troca" })).status).toBe(201);
    const refundedValue = async () =>
      (await restGet(server.url, `/payments/${payment.id}`)).body.payment.refunded_value;
    await waitUntil(async () => (await refundedValue()) === 100, 10_000, "the first refund to settle");
    expect(psp.output()).toMatch(/devolução rf\w+ of E\w+: 100\.00 EM_PROCESSAMENTO/);
    // The PSP prints the callback's line once the answer is back in its process, which can be after the service
    // has committed the refund (and so after the read above): wait for the line rather than race it.
    const callbackLine = /callback http:\/\/127\.0\.0\.1:\d+\/webhooks\/pix: 200/;
    await waitUntil(async () => callbackLine.test(psp.output()), 10_000, "the PSP to log its callback");
    expect(psp.output()).toMatch(callbackLine);
    const page = () => fetch(`${server.url}/pay/${payment.bank_payment_id}`).then((r) => r.text());
    expect(await page()).toContain('data-fully-refunded="false"');

    expect((await restRefund(server.url, payment.id, { value: 154.3 })).status).toBe(201);
    await waitUntil(async () => (await refundedValue()) === 254.3, 10_000, "the second refund to settle");
    expect(await page()).toContain('data-fully-refunded="true"');
    const refunds = (await restGet(server.url, `/payments/${payment.id}/refunds`)).body.refunds;
    expect(refunds.map((r: any) => [r.value, r.status])).toEqual([
      [154.3, "refunded"],
      [100, "refunded"],
    ]);
    const ledger = (await restGet(server.url, "/pix", merchantHeaders())).body.pix;
    expect(ledger[0]).toMatchObject({ payment_id: payment.id, status: "matched", refunded_value: 254.3 });
  });
});
