/**
 * The checkout page changing by itself over /ws, in a real Chromium: confirmation and expiry in one
 * process, then two real server processes sharing a SQLite file and a Redis, and a socket that drops.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import {
  manualClock,
  restConfirm,
  restCreate,
  type ServerProcess,
  spawnServer,
  startTestApp,
  type TestApp,
  tempDir,
} from "./harness.ts";
import { launchBrowser, phoneContext, saveScreenshot, watchPage } from "./pages.browser.ts";
import { startRedis, type TestRedis } from "./redis.ts";

// bun would otherwise stop a browser test at its default 5 s (and kill Chromium with it).
const BROWSER_TEST_MS = 30_000;

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
}, BROWSER_TEST_MS);
afterAll(async () => {
  await browser?.close();
});

/**
 * Opens a checkout page and resolves once its socket has delivered the first snapshot, so a later change
 * can only reach the page live. `navigations` counts main-frame loads: it stays 1 when nothing reloads.
 */
async function openLivePage(url: string, options: Parameters<typeof phoneContext>[0] = {}) {
  const context = await browser.newContext(phoneContext(options));
  const page = await context.newPage();
  const watched = await watchPage(page);
  const frames: string[] = [];
  const snapshot = new Promise<void>((resolve) => {
    page.on("websocket", (ws) =>
      ws.on("framereceived", (frame) => {
        frames.push(String(frame.payload));
        resolve();
      }),
    );
  });
  let navigations = 0;
  page.on("framenavigated", (frame) => {
    if (frame === page.mainFrame()) navigations++;
  });
  const response = await page.goto(url);
  expect(response?.status()).toBe(200);
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new Error(`no WebSocket snapshot within 5 s; page problems: ${watched.problems.join("; ") || "none"}`)),
      5000,
    );
  });
  try {
    await Promise.race([snapshot, timeout]);
  } catch (err) {
    await context.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  expect(await page.locator("[data-state=pending]").isVisible()).toBe(true);
  return { context, page, watched, frames, navigations: () => navigations };
}

const visibleState = (page: Page) => page.locator("#checkout").getAttribute("data-shown");

describe("one instance", () => {
  const clock = manualClock();
  let app: TestApp;
  beforeAll(() => {
    app = startTestApp({ clock, env: { PIX_MERCHANT_NAME: "Mercado Boa Vista" } });
  });
  afterAll(() => app?.stop());

  test(
    "the signed confirmation turns the open page to 'Pagamento confirmado', with time, without a reload",
    async () => {
      const payment = (await restCreate(app.url, 254.3)).body.payment;
      const live = await openLivePage(`${app.url}/pay/${payment.bank_payment_id}`);
      expect(JSON.parse(live.frames[0]!)).toMatchObject({ type: "payment", payment: { status: "pending" } });

      clock.advance(60_000); // paid one minute after creation: 12:16 in Brasília
      try {
        expect((await restConfirm(app.url, { bank_payment_id: payment.bank_payment_id, value: 254.3 })).status).toBe(
          200,
        );
      } finally {
        clock.advance(-60_000);
      }
      await live.page.locator("[data-state=paid]").waitFor({ state: "visible", timeout: 5000 });
      expect(await live.page.locator("[data-state=pending]").isVisible()).toBe(false);
      expect(await live.page.locator("[data-state=paid] h2").textContent()).toBe("Pagamento confirmado");
      expect(await live.page.locator("[data-paid-at]").textContent()).toBe("08/04/2025, 12:16");
      expect(await live.page.locator("[data-amount]").textContent()).toMatch(/^R\$\s254,30$/);
      expect(await live.page.title()).toBe("Pagamento confirmado · Mercado Boa Vista");
      expect(live.navigations()).toBe(1);
      await saveScreenshot(live.page, "checkout-paid-live.png");
      expect(live.watched.problems).toEqual([]);
      await live.context.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "expiry announced by the server turns the page to 'Payment expired' (English) while its countdown still runs",
    async () => {
      const payment = (await restCreate(app.url, 80)).body.payment;
      const live = await openLivePage(`${app.url}/pay/${payment.bank_payment_id}`, {
        locale: "en-US",
        extraHTTPHeaders: { "accept-language": "en-US,en;q=0.9" },
      });
      const skipped = 1800_000 + 1000;
      clock.advance(skipped);
      try {
        expect((await app.service.expireDue()).map((p) => p.bankPaymentId)).toContain(payment.bank_payment_id);
      } finally {
        clock.advance(-skipped);
      }
      await live.page.locator("[data-state=expired]").waitFor({ state: "visible", timeout: 5000 });
      expect(await live.page.locator("[data-state=expired] h2").textContent()).toBe("Payment expired");
      // The page's own countdown still had about 30 minutes: the flip came over the socket.
      expect(await live.page.locator("[data-countdown]").textContent()).toMatch(/^(30:00|29:5\d)$/);
      expect(live.navigations()).toBe(1);
      expect(live.watched.problems).toEqual([]);
      await live.context.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "a page opened with a payment that already expired shows it expired",
    async () => {
      const payment = (await restCreate(app.url, 5)).body.payment;
      clock.advance(1800_000);
      try {
        const context = await browser.newContext(phoneContext());
        const page = await context.newPage();
        await page.goto(`${app.url}/pay/${payment.bank_payment_id}`);
        expect(await page.locator("[data-state=expired]").isVisible()).toBe(true);
        expect(await page.locator("[data-state=pending]").isVisible()).toBe(false);
        await saveScreenshot(page, "checkout-expired.png");
        await context.close();
      } finally {
        clock.advance(-1800_000);
      }
    },
    BROWSER_TEST_MS,
  );
});

describe("two instances sharing SQLite and Redis", () => {
  let redis: TestRedis;
  let a: ServerProcess;
  let b: ServerProcess;
  const dir = tempDir("payments-pages-");
  const env = () => ({
    DATABASE_URL: join(dir.dir, "shared.sqlite"),
    REDIS_URL: redis.url,
    PIX_MERCHANT_NAME: "Loja Dois Irmãos",
  });

  beforeAll(async () => {
    redis = await startRedis();
    a = await spawnServer(env());
    b = await spawnServer(env());
  }, BROWSER_TEST_MS);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.stop();
    dir.cleanup();
  });

  test(
    "a page served by B flips to confirmed when the signed confirmation reaches A",
    async () => {
      const payment = (await restCreate(a.url, 254.3)).body.payment;
      const live = await openLivePage(`${b.url}/pay/${payment.bank_payment_id}`);
      expect((await restConfirm(a.url, { bank_payment_id: payment.bank_payment_id, value: 254.3 })).status).toBe(200);
      await live.page.locator("[data-state=paid]").waitFor({ state: "visible", timeout: 5000 });
      expect(await live.page.locator("[data-state=paid] h2").textContent()).toBe("Pagamento confirmado");
      expect(await live.page.locator("[data-paid-at]").textContent()).toMatch(/^\d\d\/\d\d\/\d{4}, \d\d:\d\d$/);
      expect(live.navigations()).toBe(1);
      expect(live.watched.problems).toEqual([]);
      await live.context.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "when B goes away, the page reconnects with back-off and catches up on the confirmation it missed",
    async () => {
      const payment = (await restCreate(a.url, 33.33)).body.payment;
      const live = await openLivePage(`${b.url}/pay/${payment.bank_payment_id}`);
      const port = b.port;
      expect(await b.stop()).toBe(0);
      await live.page.waitForFunction(
        () => document.querySelector("[data-live]")!.classList.contains("is-reconnecting"),
        null,
        {
          timeout: 5000,
        },
      );
      expect(await live.page.locator("[data-live-text]").textContent()).toBe("Reconectando…");

      // Confirmed while the page has no socket: only the snapshot on re-subscribe can tell it.
      expect((await restConfirm(a.url, { bank_payment_id: payment.bank_payment_id, value: 33.33 })).status).toBe(200);
      await Bun.sleep(500);
      expect(await visibleState(live.page)).toBe("pending");
      b = await spawnServer({ ...env(), PORT: String(port) });

      await live.page.locator("[data-state=paid]").waitFor({ state: "visible", timeout: 15_000 });
      expect(live.navigations()).toBe(1);
      // The dropped socket and the refused reconnects are the browser's own logs, not the page's errors.
      expect(live.watched.problems.filter((p) => !/WebSocket connection to .* failed/.test(p))).toEqual([]);
      await live.context.close();
    },
    BROWSER_TEST_MS,
  );
});
