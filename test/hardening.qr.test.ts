import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createQrCache, type QrFormat, renderQr } from "../src/pages/qr.ts";
import { restCreate, startTestApp, type TestApp } from "./harness.ts";

/**
 * Issue 10, item 5: a QR image is drawn once per payment and kept (bounded), so anyone with a payer link
 * cannot keep a core busy: 50 requests for one payment's PNG cost less CPU than drawing it twice.
 */
let app: TestApp;
beforeAll(() => {
  app = startTestApp();
});
afterAll(() => app.stop());

const cpuMs = (since: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
};

describe("QR images are drawn once per payment", () => {
  // Uncached, the 50 would cost 25 times the two renders; the bound leaves room for a busy machine's noise
  // (process CPU includes the runtime's own threads), and still fails without the cache.
  test("50 parallel requests for a payment's qr.png cost less CPU than 10 renders", async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(async (v) => (await restCreate(app.url, v)).body.payment));
    await renderQr(a.pix_copy_paste, "png"); // the library's first-use costs, out of both measurements
    let t = process.cpuUsage();
    await renderQr(b.pix_copy_paste, "png");
    await renderQr(c.pix_copy_paste, "png");
    const twoRenders = cpuMs(t);

    // Straight into the app's fetch, so the test's HTTP client is not part of the measured CPU.
    const get = () => app.server.fetch(new Request(`${app.url}/pay/${a.bank_payment_id}/qr.png`));
    t = process.cpuUsage();
    const responses = await Promise.all(Array.from({ length: 50 }, get));
    const bodies = await Promise.all(responses.map((r) => r.arrayBuffer()));
    const fiftyRequests = cpuMs(t);

    console.log(`2 renders: ${twoRenders.toFixed(1)} ms CPU; 50 requests: ${fiftyRequests.toFixed(1)} ms CPU`);
    expect(responses.every((r) => r.status === 200 && r.headers.get("content-type") === "image/png")).toBe(true);
    const first = Buffer.from(bodies[0]!);
    expect(bodies.every((body) => first.equals(Buffer.from(body)))).toBe(true);
    expect(first.equals(Buffer.from((await renderQr(a.pix_copy_paste, "png")).body as Uint8Array))).toBe(true);
    expect(fiftyRequests).toBeLessThan(5 * twoRenders);
  });
});

describe("the QR cache (src/pages/qr.ts)", () => {
  const counting = () => {
    const drawn: string[] = [];
    const render = async (payload: string, format: QrFormat) => {
      drawn.push(`${format}:${payload}`);
      if (payload === "fails") throw new Error("drawing failed");
      return { body: payload, contentType: "image/svg+xml" };
    };
    return { drawn, render };
  };

  test("keeps at most maxEntries images, dropping the least recently used", async () => {
    const { drawn, render } = counting();
    const cache = createQrCache({ maxEntries: 2, render });
    for (const payload of ["a", "b", "a", "c", "a", "b"]) await cache.get(payload, "svg");
    // a stays (used again before c came), b was the oldest when c came, so b is drawn again.
    expect(drawn).toEqual(["svg:a", "svg:b", "svg:c", "svg:b"]);
    expect(cache.size()).toBe(2);
  });

  test("concurrent requests share one drawing; a failed drawing is not kept", async () => {
    const { drawn, render } = counting();
    const cache = createQrCache({ maxEntries: 10, render });
    await Promise.all(Array.from({ length: 16 }, () => cache.get("x", "png")));
    expect(drawn).toEqual(["png:x"]);
    await expect(cache.get("fails", "png")).rejects.toThrow("drawing failed");
    await expect(cache.get("fails", "png")).rejects.toThrow("drawing failed");
    expect(drawn).toEqual(["png:x", "png:fails", "png:fails"]);
  });
});
