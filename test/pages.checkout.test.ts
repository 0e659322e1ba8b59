/**
 * The checkout page in a real Chromium, served by the app in this process (manual clock, real SQLite):
 * what the payer sees in each state, the QR images, the copy button, languages, 404s and security headers.
 */
import { afterAll, beforeAll, describe, expect, spyOn, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import {
  manualClock,
  merchantHeaders,
  ROOT,
  restConfirm,
  restCreate,
  startTestApp,
  TEST_API_KEY,
  TEST_WEBHOOK_SECRET,
  type TestApp,
  waitUntil,
} from "./harness.ts";
import { decodeQrPng, launchBrowser, phoneContext, saveScreenshot, watchPage } from "./pages.browser.ts";

// bun would otherwise stop a browser test at its default 5 s (and kill Chromium with it).
const BROWSER_TEST_MS = 30_000;

const MERCHANT = "Padaria Pão & Mel";
const clock = manualClock();
let app: TestApp;
let browser: Browser;

beforeAll(async () => {
  app = startTestApp({ clock, env: { PIX_MERCHANT_NAME: MERCHANT } });
  browser = await launchBrowser();
}, BROWSER_TEST_MS);
afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

async function createPayment(value: number) {
  const { status, body } = await restCreate(app.url, value);
  expect(status).toBe(200);
  return body.payment as { id: number; bank_payment_id: string; pix_copy_paste: string; value: number };
}

const pageUrl = (id: string) => `${app.url}/pay/${id}`;

describe("a pending payment's checkout page", () => {
  test(
    "shows merchant, amount in reais, a countdown, the QR of the code and the code; no console error or CSP violation",
    async () => {
      const payment = await createPayment(254.3);
      const context = await browser.newContext(phoneContext());
      const page = await context.newPage();
      const watched = await watchPage(page);
      const response = await page.goto(pageUrl(payment.bank_payment_id));
      expect(response?.status()).toBe(200);

      expect(await page.locator(".merchant-name").textContent()).toBe(MERCHANT);
      expect(await page.locator("[data-amount]").textContent()).toMatch(/^R\$\s254,30$/);
      expect(await page.locator("textarea#pix-code").inputValue()).toBe(payment.pix_copy_paste);
      expect(await page.locator("textarea#pix-code").getAttribute("readonly")).not.toBeNull();
      expect(await page.locator("[data-state=pending]").isVisible()).toBe(true);
      expect(await page.locator("[data-state=paid]").isVisible()).toBe(false);
      expect(await page.locator("[data-state=expired]").isVisible()).toBe(false);
      expect(await page.title()).toBe(`Pagar com Pix · ${MERCHANT}`);

      // The countdown starts at the server's remaining time (30 min on the manual clock) and runs.
      const first = await page.locator("[data-countdown]").textContent();
      expect(first).toMatch(/^(30:00|29:5\d)$/);
      await page.waitForFunction(
        (before) => document.querySelector("[data-countdown]")!.textContent !== before,
        first,
        { timeout: 3000 },
      );

      // The QR image as the browser displays it decodes to exactly the payment's code.
      const img = page.locator(".qr img");
      await page.waitForFunction(() => (document.querySelector(".qr img") as HTMLImageElement).naturalWidth > 0);
      expect(decodeQrPng(await img.screenshot())).toBe(payment.pix_copy_paste);

      await saveScreenshot(page, "checkout-pending.png");
      // Without /ws this would show up as failed WebSocket connections; with it, a clean console.
      expect(watched.problems).toEqual([]);
      await context.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "the copy button puts exactly the code on the clipboard and says so",
    async () => {
      const payment = await createPayment(12.5);
      const context = await browser.newContext(phoneContext({ permissions: ["clipboard-read", "clipboard-write"] }));
      const page = await context.newPage();
      await page.goto(pageUrl(payment.bank_payment_id));
      const button = page.locator("button[data-copy]");
      expect(await button.textContent()).toBe("Copiar código");
      await button.click();
      await page.waitForFunction(() => document.querySelector("button[data-copy]")!.textContent === "Copiado!", null, {
        timeout: 3000,
      });
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(payment.pix_copy_paste);
      await saveScreenshot(page, "checkout-copied.png");
      await context.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "speaks English when Accept-Language prefers it",
    async () => {
      const payment = await createPayment(99.9);
      const context = await browser.newContext(
        phoneContext({ locale: "en-US", extraHTTPHeaders: { "accept-language": "pt;q=0.4, en-GB;q=0.9, fr" } }),
      );
      const page = await context.newPage();
      await page.goto(pageUrl(payment.bank_payment_id));
      expect(await page.locator("html").getAttribute("lang")).toBe("en");
      expect(await page.locator(".merchant-label").textContent()).toBe("Payment to");
      expect(await page.locator("button[data-copy]").textContent()).toBe("Copy code");
      expect(await page.locator(".countdown span").textContent()).toBe("Expires in");
      expect(await page.locator("[data-amount]").textContent()).toMatch(/^R\$\s99,90$/);
      await saveScreenshot(page, "checkout-pending-en.png");
      await context.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "with JavaScript off, the code, the amount and the state still show (server-rendered)",
    async () => {
      const payment = await createPayment(40);
      const context = await browser.newContext(phoneContext({ javaScriptEnabled: false }));
      const page = await context.newPage();
      await page.goto(pageUrl(payment.bank_payment_id));
      expect(await page.locator("textarea#pix-code").inputValue()).toBe(payment.pix_copy_paste);
      expect(await page.locator("[data-amount]").textContent()).toMatch(/^R\$\s40,00$/);
      expect(await page.locator("[data-state=pending]").isVisible()).toBe(true);
      // A countdown that cannot run would stand still: the expiry time shows instead.
      expect(await page.locator("[data-countdown]").isVisible()).toBe(false);
      expect(await page.locator(".deadline time").isVisible()).toBe(true);
      expect(await page.locator(".noscript").isVisible()).toBe(true);
      // Copying needs JavaScript, so the button stays hidden rather than doing nothing.
      expect(await page.locator("button[data-copy]").isVisible()).toBe(false);

      await restConfirm(app.url, { bank_payment_id: payment.bank_payment_id, value: 40 });
      await page.reload();
      expect(await page.locator("[data-state=paid]").isVisible()).toBe(true);
      expect(await page.locator("[data-state=pending]").isVisible()).toBe(false);
      await context.close();
    },
    BROWSER_TEST_MS,
  );
});

describe("expiry on the page's own clock", () => {
  test(
    "the countdown reaching zero shows the expired state without a reload, before the server says so",
    async () => {
      const payment = await createPayment(19.9);
      const skipped = 1800_000 - 2500; // leave 2.5 s on the server's clock
      clock.advance(skipped);
      try {
        const context = await browser.newContext(phoneContext());
        const page = await context.newPage();
        await page.goto(pageUrl(payment.bank_payment_id));
        await page.evaluate(() => ((window as any).loadedOnce = true));
        expect(await page.locator("[data-state=pending]").isVisible()).toBe(true);
        expect(await page.locator("[data-countdown]").textContent()).toMatch(/^0:0[0-3]$/);
        await page.locator("[data-state=expired]").waitFor({ state: "visible", timeout: 5000 });
        expect(await page.locator("[data-state=pending]").isVisible()).toBe(false);
        expect(await page.locator("[data-state=expired] h2").textContent()).toBe("Pagamento expirado");
        expect(await page.title()).toBe(`Pagamento expirado · ${MERCHANT}`);
        expect(await page.evaluate(() => (window as any).loadedOnce)).toBe(true); // same document: no reload
        // Nothing was swept: the flip came from the countdown, not from the server.
        expect((await app.service.getByBankPaymentId(payment.bank_payment_id)).status).toBe("pending");
        await context.close();
      } finally {
        clock.advance(-skipped);
      }
    },
    BROWSER_TEST_MS,
  );
});

describe("after the payment", () => {
  test(
    "opening the link shows the confirmed page directly, with the order, amount, time and the way back to the shop",
    async () => {
      const created = await fetch(`${app.url}/payments`, {
        method: "POST",
        headers: merchantHeaders(),
        body: JSON.stringify({
          value: 254.3,
          description: "Pedido #1234 · 2 pães de mel",
          return_url: "https://loja.example/pedidos/1234",
        }),
      });
      const payment = ((await created.json()) as any).payment;
      expect((await restConfirm(app.url, { bank_payment_id: payment.bank_payment_id, value: 254.3 })).status).toBe(200);
      const context = await browser.newContext(phoneContext());
      const page = await context.newPage();
      const watched = await watchPage(page);
      await page.goto(pageUrl(payment.bank_payment_id));
      expect(await page.locator("[data-state=paid]").isVisible()).toBe(true);
      expect(await page.locator("[data-state=pending]").isVisible()).toBe(false);
      expect(await page.locator("[data-state=paid] h2").textContent()).toBe("Pagamento confirmado");
      expect(await page.locator("[data-amount]").textContent()).toMatch(/^R\$\s254,30$/);
      // paid at the manual clock's 2025-04-08T15:15:25Z, which is 12:15 in Brasília
      expect(await page.locator("[data-paid-at]").textContent()).toBe("08/04/2025, 12:15");
      expect(await page.title()).toBe(`Pagamento confirmado · ${MERCHANT}`);
      expect(await page.locator("[data-description]").textContent()).toBe("Pedido #1234 · 2 pães de mel");
      expect(await page.locator("a[data-return]").getAttribute("href")).toBe("https://loja.example/pedidos/1234");
      const shot = await saveScreenshot(page, "checkout-paid.png");
      // The README's picture is committed: refresh it only when asked, so a test run leaves git clean.
      const docsShot = join(ROOT, "docs/checkout-paid.png");
      if (process.env.UPDATE_DOCS_SCREENSHOTS === "1" || !existsSync(docsShot)) {
        mkdirSync(join(ROOT, "docs"), { recursive: true });
        copyFileSync(shot, docsShot);
      }
      // A paid payment can still be refunded (CONTRACT §11), so the page keeps a live connection for that.
      await waitUntil(() => watched.requests.some((u) => u.includes("/ws")), 5000, "the page's /ws connection");
      expect(watched.problems).toEqual([]);
      await context.close();
    },
    BROWSER_TEST_MS,
  );
});

describe("QR images", () => {
  test(
    "qr.png decodes to exactly pix_copy_paste and is cached as immutable with an ETag",
    async () => {
      const payment = await createPayment(254.3);
      const url = `${pageUrl(payment.bank_payment_id)}/qr.png`;
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/png");
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      const etag = res.headers.get("etag");
      expect(etag).toMatch(/^"[\w-]{16,}"$/);
      expect(decodeQrPng(new Uint8Array(await res.arrayBuffer()))).toBe(payment.pix_copy_paste);

      const again = await fetch(url, { headers: { "if-none-match": etag! } });
      expect(again.status).toBe(304);
      expect(again.headers.get("etag")).toBe(etag);
      expect((await again.arrayBuffer()).byteLength).toBe(0);
      expect((await fetch(url, { headers: { "if-none-match": `W/${etag}, "other"` } })).status).toBe(304);
      const stale = await fetch(url, { headers: { "if-none-match": '"something-else"' } });
      expect(stale.status).toBe(200);
      await stale.arrayBuffer();

      const other = await createPayment(254.3);
      const otherEtag = (await fetch(`${pageUrl(other.bank_payment_id)}/qr.png`)).headers.get("etag");
      expect(otherEtag).not.toBe(etag); // a different txid, so a different payload and image
    },
    BROWSER_TEST_MS,
  );

  test(
    "qr.svg is an SVG that, rendered by the browser, decodes to exactly pix_copy_paste",
    async () => {
      const payment = await createPayment(7.77);
      const url = `${pageUrl(payment.bank_payment_id)}/qr.svg`;
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("image/svg+xml");
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      const etag = res.headers.get("etag")!;
      expect(etag).not.toBe((await fetch(`${pageUrl(payment.bank_payment_id)}/qr.png`)).headers.get("etag"));
      expect(await res.text()).toStartWith("<svg");
      expect((await fetch(url, { headers: { "if-none-match": etag } })).status).toBe(304);

      const context = await browser.newContext({ viewport: { width: 400, height: 400 } });
      const page = await context.newPage();
      await page.goto(url);
      expect(decodeQrPng(await page.locator("svg").screenshot())).toBe(payment.pix_copy_paste);
      await context.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "unknown payments have no QR image",
    async () => {
      const res = await fetch(`${app.url}/pay/${crypto.randomUUID()}/qr.png`);
      expect(res.status).toBe(404);
      expect((await fetch(`${app.url}/pay/${crypto.randomUUID()}/qr.svg`)).status).toBe(404);
      await res.text();
    },
    BROWSER_TEST_MS,
  );
});

describe("unknown and malformed links", () => {
  test(
    "an unknown id gets a real 404 page, in the payer's language",
    async () => {
      const context = await browser.newContext(phoneContext());
      const page = await context.newPage();
      const watched = await watchPage(page);
      const response = await page.goto(`${app.url}/pay/${crypto.randomUUID()}`);
      expect(response?.status()).toBe(404);
      expect(response?.headers()["content-type"]).toBe("text/html; charset=utf-8");
      expect(await page.locator("h1").textContent()).toBe("Pagamento não encontrado");
      await saveScreenshot(page, "checkout-404.png");
      expect(watched.problems.filter((p) => !p.includes("404"))).toEqual([]);
      await context.close();

      const en = await fetch(`${app.url}/pay/${crypto.randomUUID()}`, { headers: { "accept-language": "en" } });
      expect(en.status).toBe(404);
      expect(await en.text()).toContain("Payment not found");
    },
    BROWSER_TEST_MS,
  );

  test(
    "ids that are not UUIDs get the 404 page without a database lookup",
    async () => {
      const lookup = spyOn(app.service, "getByBankPaymentId");
      try {
        const malformed = [
          "123",
          "not-a-uuid",
          "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
          "CA2910AE-C4E8-44D3-B510-E573E9BE9A58",
          "ca2910ae-c4e8-44d3-b510-e573e9be9a58x",
          "ca2910ae-c4e8-44d3-b510-e573e9be9a58/qr.gif",
          "ca2910ae-c4e8-44d3-b510-e573e9be9a58/extra/qr.png",
          "assets/../checkout.ts",
          "",
        ];
        for (const id of malformed) {
          const res = await fetch(`${app.url}/pay/${id}`);
          expect({ id, status: res.status }).toEqual({ id, status: 404 });
          const body = await res.text();
          expect(body).toContain("Pagamento não encontrado");
          expect(body).not.toContain("<script>alert");
        }
        expect(lookup).not.toHaveBeenCalled();
        // A well-formed id is looked up, which proves the spy watches the path the pages use.
        await (await fetch(`${app.url}/pay/${crypto.randomUUID()}`)).text();
        expect(lookup).toHaveBeenCalledTimes(1);
      } finally {
        lookup.mockRestore();
      }
    },
    BROWSER_TEST_MS,
  );
});

describe("security", () => {
  test(
    "pages, static files and QR images send CSP without unsafe-inline, no-referrer and nosniff",
    async () => {
      const payment = await createPayment(10);
      const res = await fetch(pageUrl(payment.bank_payment_id));
      await res.text();
      const csp = res.headers.get("content-security-policy")!;
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain("unsafe-inline");
      expect(csp).not.toContain("unsafe-eval");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("cache-control")).toBe("no-store");

      for (const path of ["/pay/assets/checkout.js", "/pay/assets/checkout.css", `/pay/${crypto.randomUUID()}`]) {
        const r = await fetch(`${app.url}${path}`);
        await r.arrayBuffer();
        expect({
          path,
          csp: r.headers.get("content-security-policy") !== null,
          nosniff: r.headers.get("x-content-type-options"),
        }).toEqual({
          path,
          csp: true,
          nosniff: "nosniff",
        });
      }
      const qr = await fetch(`${pageUrl(payment.bank_payment_id)}/qr.svg`);
      await qr.text();
      expect(qr.headers.get("referrer-policy")).toBe("no-referrer");
      expect(qr.headers.get("content-security-policy")).toContain("default-src 'none'");
    },
    BROWSER_TEST_MS,
  );

  test(
    "static files have the right types, versioned links are immutable, and ETags revalidate",
    async () => {
      const page = await (await fetch(pageUrl((await createPayment(3)).bank_payment_id))).text();
      const script = /<script src="(\/pay\/assets\/checkout\.js\?v=[0-9a-f]+)" defer><\/script>/.exec(page)?.[1];
      const style = /<link rel="stylesheet" href="(\/pay\/assets\/checkout\.css\?v=[0-9a-f]+)">/.exec(page)?.[1];
      expect(script).toBeDefined();
      expect(style).toBeDefined();
      const js = await fetch(`${app.url}${script}`);
      expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
      expect(js.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(await js.text()).toContain("/ws?bank_payment_id=");
      const css = await fetch(`${app.url}${style}`);
      expect(css.headers.get("content-type")).toBe("text/css; charset=utf-8");
      await css.text();
      const unversioned = await fetch(`${app.url}/pay/assets/checkout.js`);
      expect(unversioned.headers.get("cache-control")).toBe("public, max-age=0, must-revalidate");
      await unversioned.text();
      const revalidated = await fetch(`${app.url}/pay/assets/checkout.js`, {
        headers: { "if-none-match": js.headers.get("etag")! },
      });
      expect(revalidated.status).toBe(304);
      expect((await fetch(`${app.url}/pay/assets/nope.js`)).status).toBe(404);
      expect(page).not.toMatch(/<script>|<style|style="| on\w+="/); // nothing inline for the CSP to allow
    },
    BROWSER_TEST_MS,
  );

  test(
    "interpolated text is escaped: a merchant name with markup shows as text",
    async () => {
      const hostile = startTestApp({ env: { PIX_MERCHANT_NAME: `<img src=x onerror="alert(1)">"'&` } });
      try {
        const payment = (await restCreate(hostile.url, 1)).body.payment;
        const html = await (await fetch(`${hostile.url}/pay/${payment.bank_payment_id}`)).text();
        expect(html).not.toContain("<img src=x");
        expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&quot;&#39;&amp;");
        const context = await browser.newContext(phoneContext());
        const page = await context.newPage();
        let dialogs = 0;
        page.on("dialog", (d) => {
          dialogs++;
          void d.dismiss();
        });
        await page.goto(`${hostile.url}/pay/${payment.bank_payment_id}`);
        expect(await page.locator(".merchant-name").textContent()).toBe(`<img src=x onerror="alert(1)">"'&`);
        expect(await page.locator("textarea#pix-code").inputValue()).toBe(payment.pix_copy_paste);
        expect(dialogs).toBe(0);
        await context.close();
      } finally {
        await hostile.stop();
      }
    },
    BROWSER_TEST_MS,
  );

  test(
    "the page and its requests reveal nothing but this one payment",
    async () => {
      const other = await createPayment(1.23);
      const payment = await createPayment(4.56);
      const res = await fetch(pageUrl(payment.bank_payment_id));
      const html = await res.text();
      expect(html).not.toContain(other.bank_payment_id);
      expect(html).not.toContain(TEST_API_KEY);
      expect(html).not.toContain(TEST_WEBHOOK_SECRET);
      expect(html).not.toMatch(/data-(payment-)?id=/);
      expect(html).not.toMatch(new RegExp(`"id"\\s*:\\s*${payment.id}\\b`));

      const context = await browser.newContext(phoneContext());
      const page = await context.newPage();
      const watched = await watchPage(page);
      await page.goto(pageUrl(payment.bank_payment_id));
      await page.waitForLoadState("networkidle").catch(() => undefined);
      const unexpected = watched.requests.filter((u) => {
        const { pathname, search } = new URL(u);
        if (pathname.startsWith("/pay/assets/")) return false;
        if (pathname === `/pay/${payment.bank_payment_id}` || pathname === `/pay/${payment.bank_payment_id}/qr.svg`)
          return false;
        if (pathname === "/ws" && search === `?bank_payment_id=${payment.bank_payment_id}`) return false;
        return true;
      });
      expect(unexpected).toEqual([]);
      await context.close();
    },
    BROWSER_TEST_MS,
  );
});
