/**
 * The checkout page once the payment is refunded (CONTRACT §3, §11), in a real Chromium: an open paid page
 * turns to "Pagamento estornado" over /ws when refunds reach the whole value, without a reload; a page opened
 * later shows it directly. Refunds go through the simulated API Pix and settle by its callback.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { restRefund, waitUntil } from "./harness.ts";
import { launchBrowser, phoneContext, saveScreenshot, watchPage } from "./pages.browser.ts";
import { paidThroughPsp, startAppWithPsp } from "./psp.ts";

const BROWSER_TEST_MS = 30_000;
const MERCHANT = "Sorveteria Polo Norte";

const env = startAppWithPsp({ env: { PIX_MERCHANT_NAME: MERCHANT } });
const { app, psp } = env;
let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
}, BROWSER_TEST_MS);
afterAll(async () => {
  await browser?.close();
  await env.stop();
});

/** Refunds `value` of the payment through the PSP and waits until the PSP's callback has settled it. */
async function refund(paymentId: number, value: number) {
  expect((await restRefund(app.url, paymentId, { value })).status).toBe(201);
  await app.refunds.drain();
  await psp.settleAll();
}

describe("a refunded payment's checkout page", () => {
  test(
    "an open paid page stays paid through a partial refund and turns to 'Pagamento estornado' at the full one",
    async () => {
      const { payment } = await paidThroughPsp(app, psp, 254.3);
      const context = await browser.newContext(phoneContext());
      const page = await context.newPage();
      const watched = await watchPage(page);
      const frames: any[] = [];
      page.on("websocket", (ws) => ws.on("framereceived", (f) => frames.push(JSON.parse(String(f.payload)))));
      let navigations = 0;
      page.on("framenavigated", (frame) => {
        if (frame === page.mainFrame()) navigations++;
      });
      await page.goto(`${app.url}/pay/${payment.bank_payment_id}`);
      expect(await page.locator("[data-state=paid]").isVisible()).toBe(true);
      await waitUntil(() => frames.length > 0, 5000, "the page's first /ws frame");

      await refund(payment.id, 100);
      await waitUntil(() => frames.some((f) => f.payment?.refunded_value === 100), 5000, "the partial refund frame");
      expect(await page.locator("#checkout").getAttribute("data-shown")).toBe("paid");

      await refund(payment.id, 154.3);
      await page.locator("[data-state=refunded]").waitFor({ state: "visible", timeout: 5000 });
      expect(await page.locator("[data-state=paid]").isVisible()).toBe(false);
      expect(await page.locator("[data-state=refunded] h2").textContent()).toBe("Pagamento estornado");
      expect(await page.title()).toBe(`Pagamento estornado · ${MERCHANT}`);
      expect(await page.locator("[data-announce]").textContent()).toBe("Pagamento estornado");
      expect(navigations).toBe(1);
      await saveScreenshot(page, "checkout-refunded-live.png");
      expect(watched.problems).toEqual([]);
      await context.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "opened after a full refund, it shows 'Payment refunded' (English) directly and needs no live connection",
    async () => {
      const { payment } = await paidThroughPsp(app, psp, 40);
      await refund(payment.id, 40);
      const context = await browser.newContext(
        phoneContext({ locale: "en-US", extraHTTPHeaders: { "accept-language": "en-US,en;q=0.9" } }),
      );
      const page = await context.newPage();
      const watched = await watchPage(page);
      await page.goto(`${app.url}/pay/${payment.bank_payment_id}`);
      expect(await page.locator("[data-state=refunded]").isVisible()).toBe(true);
      expect(await page.locator("[data-state=paid]").isVisible()).toBe(false);
      expect(await page.locator("[data-state=refunded] h2").textContent()).toBe("Payment refunded");
      expect(await page.title()).toBe(`Payment refunded · ${MERCHANT}`);
      await Bun.sleep(300);
      expect(watched.requests.some((u) => u.includes("/ws"))).toBe(false);
      expect(watched.problems).toEqual([]);
      await saveScreenshot(page, "checkout-refunded.png");
      await context.close();
    },
    BROWSER_TEST_MS,
  );

  test("without JavaScript the server-rendered page already says it (the same markup, no script needed)", async () => {
    const { payment } = await paidThroughPsp(app, psp, 12);
    await refund(payment.id, 12);
    const res = await fetch(`${app.url}/pay/${payment.bank_payment_id}`);
    const html = await res.text();
    expect(html).toContain('data-fully-refunded="true"');
    expect(html).toMatch(/<section class="state state-refunded" data-state="refunded"[^>]*>\s*<svg/);
    expect(html).toContain("<title>Pagamento estornado · Sorveteria Polo Norte</title>");
    expect(html).toMatch(/<section class="state state-paid" data-state="paid"[^>]* hidden>/);
  });
});
