/**
 * The PSP is the one thing these tests mock, as a real HTTP server speaking the API Pix: the same simulator
 * `npm run bank:psp` serves (scripts/bank-psp.ts), on a free port, with hooks to watch and bend it.
 */
import {
  DEFAULT_CLIENT_ID,
  DEFAULT_CLIENT_SECRET,
  type PspSimulator,
  type PspSimulatorOptions,
  startPspSimulator,
} from "../scripts/bank-psp.ts";
import {
  merchantHeaders,
  pixFor,
  restCreate,
  sendPixCallback,
  startTestApp,
  TEST_WEBHOOK_SECRET,
  type TestApp,
  type TestAppOptions,
} from "./harness.ts";

export { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET };

/** The environment that points an instance at a simulator. */
export const pspEnv = (psp: PspSimulator) => ({
  PSP_API_URL: psp.url,
  PSP_CLIENT_ID: DEFAULT_CLIENT_ID,
  PSP_CLIENT_SECRET: DEFAULT_CLIENT_SECRET,
});

/**
 * A test app with PSP_API_URL pointing at a fresh simulator whose callbacks (signed with the test secret) go to
 * the app. Devoluções stay EM_PROCESSAMENTO until the test calls `psp.settleAll()`, so nothing depends on timing.
 */
export function startAppWithPsp(options: TestAppOptions & { psp?: PspSimulatorOptions } = {}) {
  const psp = startPspSimulator({ webhookSecret: TEST_WEBHOOK_SECRET, settleDelayMs: 3_600_000, ...options.psp });
  const app = startTestApp({ ...options, env: { ...pspEnv(psp), ...options.env } });
  psp.webhookUrl = `${app.url}/webhooks`;
  return {
    app,
    psp,
    async stop() {
      await app.stop();
      await psp.stop();
    },
  };
}

/** Creates a payment and pays it with a Pix the PSP knows (so the confirming GET finds it); its wire object. */
export async function paidThroughPsp(app: Pick<TestApp, "url">, psp: PspSimulator, value: number) {
  const payment = (await restCreate(app.url, value)).body.payment;
  const pix = pixFor(payment);
  psp.registerPix(pix);
  const answer = await sendPixCallback(app.url, { pix: [pix] });
  if (answer.status !== 200) throw new Error(`pix callback: ${JSON.stringify(answer)}`);
  const read = await fetch(`${app.url}/payments/${payment.id}`, { headers: merchantHeaders() });
  return { payment: ((await read.json()) as any).payment, pix };
}

/** The requests the simulator got for one path prefix, from `since` on. */
export const requestsTo = (psp: PspSimulator, prefix: string, since = 0) =>
  psp.requests.slice(since).filter((r) => r.path.startsWith(prefix));
