/**
 * The API Pix client (src/psp/api-pix-client.ts) against the simulated PSP's real HTTP server: what counts as
 * "try again later" and what as a refusal, the time limit, one token for calls made at once, the mTLS option.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, startPspSimulator } from "../scripts/bank-psp.ts";
import { PspRejectedError, PspUnavailableError } from "../src/payments/psp.ts";
import { createApiPixClient } from "../src/psp/api-pix-client.ts";
import { pixFor } from "./harness.ts";

const psp = startPspSimulator();
afterEach(() => {
  psp.intercept = undefined;
});
afterAll(() => psp.stop());

const client = (over: Partial<Parameters<typeof createApiPixClient>[0]> = {}) =>
  createApiPixClient({
    baseUrl: `${psp.url}/`,
    clientId: DEFAULT_CLIENT_ID,
    clientSecret: DEFAULT_CLIENT_SECRET,
    ...over,
  });
const payment = { bank_payment_id: "ca2910ae-c4e8-44d3-b510-e573e9be9a58", value: 100 };

describe("the API Pix client", () => {
  test("reads a Pix with its devoluções in cents; an unknown one is null", async () => {
    const pix = pixFor(payment, { infoPagador: "oi" });
    psp.registerPix(pix);
    const c = client();
    expect(await c.getPix!(pix.endToEndId)).toEqual({
      endToEndId: pix.endToEndId,
      txid: "ca2910aec4e844d3b510e573e",
      amountCents: 10_000,
      at: Date.parse(pix.horario),
      payerInfo: "oi",
      refunds: [],
    });
    expect(await c.getPix!(pixFor(payment).endToEndId)).toBeNull();
    const refund = await c.requestRefund({
      endToEndId: pix.endToEndId,
      refundId: "rf1",
      amountCents: 789,
      nature: "ORIGINAL",
      description: null,
    });
    expect(refund).toMatchObject({ id: "rf1", amountCents: 789, status: "EM_PROCESSAMENTO", reason: null });
    expect((await c.getPix!(pix.endToEndId))!.refunds).toEqual([refund]);
    expect(await c.getRefund(pix.endToEndId, "rf1")).toEqual(refund);
    expect(await c.getRefund(pix.endToEndId, "rf2")).toBeNull();
  });

  test("calls made at once share one token request", async () => {
    const pix = pixFor(payment);
    psp.registerPix(pix);
    const before = psp.tokensIssued();
    const c = client();
    await Promise.all(Array.from({ length: 5 }, () => c.getPix!(pix.endToEndId)));
    expect(psp.tokensIssued()).toBe(before + 1);
  });

  test("5xx, 429, a refused connection, an answer that is not API Pix: unavailable; a 4xx problem: rejected", async () => {
    const pix = pixFor(payment);
    psp.registerPix(pix);
    const c = client();
    for (const status of [500, 502, 503, 429]) {
      psp.intercept = (_req, url) => (url.pathname.startsWith("/pix/") ? new Response("", { status }) : undefined);
      await expect(c.getPix!(pix.endToEndId)).rejects.toBeInstanceOf(PspUnavailableError);
    }
    psp.intercept = (_req, url) => (url.pathname.startsWith("/pix/") ? Response.json({ hello: 1 }) : undefined);
    await expect(c.getPix!(pix.endToEndId)).rejects.toBeInstanceOf(PspUnavailableError);
    psp.intercept = (_req, url) =>
      url.pathname.startsWith("/pix/")
        ? Response.json({ title: "Requisição inválida", detail: "valor acima do permitido" }, { status: 400 })
        : undefined;
    const refused = await c
      .requestRefund({
        endToEndId: pix.endToEndId,
        refundId: "rfz",
        amountCents: 1,
        nature: "ORIGINAL",
        description: "x",
      })
      .catch((err) => err);
    expect(refused).toBeInstanceOf(PspRejectedError);
    expect(refused).toMatchObject({ status: 400, detail: "Requisição inválida: valor acima do permitido" });
    const nowhere = createApiPixClient({ baseUrl: "http://127.0.0.1:9", clientId: "a", clientSecret: "b" });
    await expect(nowhere.getPix!(pix.endToEndId)).rejects.toBeInstanceOf(PspUnavailableError);
  });

  test("a wrong client secret is 'unavailable' (a configuration to fix), never a refusal of the refund", async () => {
    const c = client({ clientSecret: "wrong" });
    const err = await c.getRefund(pixFor(payment).endToEndId, "rf1").catch((e) => e);
    expect(err).toBeInstanceOf(PspUnavailableError);
    expect(err.message).toContain("POST /oauth/token answered 401");
  });

  test("every call has a time limit", async () => {
    const pix = pixFor(payment);
    psp.registerPix(pix);
    psp.intercept = async (_req, url) => {
      if (url.pathname.startsWith("/pix/")) await Bun.sleep(3000);
      return undefined;
    };
    const started = performance.now();
    const err = await client({ timeoutMs: 100 }).getPix!(pix.endToEndId).catch((e) => e);
    expect(err).toBeInstanceOf(PspUnavailableError);
    expect(performance.now() - started).toBeLessThan(2500); // the 100 ms limit, far from the PSP's 3 s
  });

  test("with a client certificate, every call (the token's too) carries Bun's tls option", async () => {
    const seen: Array<{ url: string; tls: unknown }> = [];
    const tls = { cert: "-----BEGIN CERTIFICATE-----…", key: "-----BEGIN PRIVATE KEY-----…" };
    const c = client({
      tls,
      fetch: (url, init) => {
        seen.push({ url, tls: init.tls });
        return fetch(url, init);
      },
    });
    const pix = pixFor(payment);
    psp.registerPix(pix);
    await c.getPix!(pix.endToEndId);
    expect(seen.map((s) => s.url)).toEqual([`${psp.url}/oauth/token`, `${psp.url}/pix/${pix.endToEndId}`]);
    for (const s of seen) expect(s.tls).toEqual(tls);
  });
});
