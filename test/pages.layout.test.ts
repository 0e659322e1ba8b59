/**
 * A checkout that converts, in a real Chromium at a phone's 390×844 and a desktop's 1280×800: what is on the
 * first screen, WCAG 2.1 AA contrast computed from the computed styles, the order (description, link back
 * to the shop), the status attribute following the live state, and the page without JavaScript.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContextOptions, Page } from "playwright-core";
import { manualClock, merchantHeaders, restConfirm, startTestApp, type TestApp } from "./harness.ts";
import { ARTIFACTS_DIR, launchBrowser, phoneContext, saveScreenshot, watchPage } from "./pages.browser.ts";

const BROWSER_TEST_MS = 30_000;

const MERCHANT = "Padaria e Confeitaria Pão de Mel da Vila Mariana Comércio de Alimentos Ltda";
// 140 characters, with what must be escaped.
const DESCRIPTION =
  `Pedido #1234 <b>&</b> "2 pães de queijo", 1 bolo de cenoura com cobertura e 1 café coado grande`.padEnd(140, ".");
const RETURN_URL = "https://loja.example/pedidos/1234?volta=1&x=2";
const SECRET_METADATA = { internal_note: "cliente-vip-margem-37" };

const clock = manualClock();
let app: TestApp;
let browser: Browser;
beforeAll(async () => {
  app = startTestApp({ clock, env: { PIX_MERCHANT_NAME: MERCHANT } });
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  browser = await launchBrowser();
}, BROWSER_TEST_MS);
afterAll(async () => {
  await browser?.close();
  await app?.stop();
});

const desktopContext = (options: BrowserContextOptions = {}): BrowserContextOptions => ({
  viewport: { width: 1280, height: 800 },
  timezoneId: "America/Sao_Paulo",
  locale: "pt-BR",
  ...options,
});

const VIEWPORTS: Array<[string, (o?: BrowserContextOptions) => BrowserContextOptions]> = [
  ["phone 390×844", phoneContext],
  ["desktop 1280×800", desktopContext],
];

async function createOrder(value: number, fields: Record<string, unknown> = {}) {
  const res = await fetch(`${app.url}/payments`, {
    method: "POST",
    headers: merchantHeaders(),
    body: JSON.stringify({
      value,
      description: DESCRIPTION,
      metadata: SECRET_METADATA,
      return_url: RETURN_URL,
      ...fields,
    }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as any).payment as { bank_payment_id: string; value: number };
}

async function openPage(bankPaymentId: string, context: BrowserContextOptions) {
  const ctx = await browser.newContext(context);
  const page = await ctx.newPage();
  const watched = await watchPage(page);
  const response = await page.goto(`${app.url}/pay/${bankPaymentId}`);
  expect(response?.status()).toBe(200);
  return { ctx, page, watched };
}

// --- WCAG 2.1 relative luminance and contrast (https://www.w3.org/TR/WCAG21/#dfn-relative-luminance) ---

type Rgba = [number, number, number, number];

function parseColor(css: string): Rgba {
  const m = /^rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)(?:\s*[,/]\s*([\d.]+%?))?\s*\)$/.exec(css.trim());
  if (!m) throw new Error(`cannot read the color ${css}`);
  const alpha = m[4] === undefined ? 1 : m[4].endsWith("%") ? Number(m[4].slice(0, -1)) / 100 : Number(m[4]);
  return [Number(m[1]), Number(m[2]), Number(m[3]), alpha];
}

/** `top` painted over an opaque `bottom`. */
const over = (top: Rgba, bottom: Rgba): Rgba => [
  top[0] * top[3] + bottom[0] * (1 - top[3]),
  top[1] * top[3] + bottom[1] * (1 - top[3]),
  top[2] * top[3] + bottom[2] * (1 - top[3]),
  1,
];

/** The opaque color behind an element: its own and its ancestors' backgrounds, innermost first. */
function backdrop(layers: string[]): Rgba {
  let color: Rgba | null = null;
  const stack: Rgba[] = [];
  for (const layer of layers) {
    const c = parseColor(layer);
    if (c[3] === 0) continue;
    stack.push(c);
    if (c[3] === 1) {
      color = c;
      break;
    }
  }
  if (!color) throw new Error(`no opaque background behind ${JSON.stringify(layers)}`);
  for (let i = stack.length - 2; i >= 0; i--) color = over(stack[i]!, color);
  return color;
}

function luminance([r, g, b]: Rgba): number {
  const channel = (v: number) => {
    const s = v / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
}

function contrastRatio(a: Rgba, b: Rgba): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/** Every visible element with text of its own: its color and the background layers behind it. */
async function textColors(page: Page) {
  return await page.evaluate(() => {
    const layersOf = (el: Element | null) => {
      const layers: string[] = [];
      for (let e = el; e; e = e.parentElement) {
        const style = getComputedStyle(e);
        if (style.backgroundImage !== "none" && style.backgroundColor === "rgba(0, 0, 0, 0)") {
          layers.push("gradient");
          break;
        }
        layers.push(style.backgroundColor);
      }
      return layers;
    };
    const found: Array<{ text: string; color: string; layers: string[]; opacity: number }> = [];
    for (const el of document.querySelectorAll("body *")) {
      const own = [...el.childNodes]
        .filter((n) => n.nodeType === Node.TEXT_NODE)
        .map((n) => n.textContent ?? "")
        .join("")
        .trim();
      if (!own) continue;
      const rect = el.getBoundingClientRect();
      if (rect.width <= 1 || rect.height <= 1 || !el.checkVisibility({ opacityProperty: true })) continue;
      let opacity = 1;
      for (let e: Element | null = el; e; e = e.parentElement) opacity *= Number(getComputedStyle(e).opacity);
      found.push({ text: own.slice(0, 40), color: getComputedStyle(el).color, layers: layersOf(el), opacity });
    }
    return found;
  });
}

function expectTextContrast(found: Awaited<ReturnType<typeof textColors>>, where: string) {
  expect(found.length).toBeGreaterThan(5);
  const failing = found
    .map((f) => {
      if (f.layers.includes("gradient")) return { ...f, ratio: 0, why: "text straight on the page's gradient" };
      const bg = backdrop(f.layers);
      const fg = parseColor(f.color);
      const ratio = contrastRatio(over([fg[0], fg[1], fg[2], fg[3] * f.opacity], bg), bg);
      return { ...f, ratio: Math.round(ratio * 100) / 100, why: "below 4.5:1" };
    })
    .filter((f) => f.ratio < 4.5);
  expect({ where, failing }).toEqual({ where, failing: [] });
}

/** The focus ring of the focused element against what it is drawn on, and the element against that too. */
async function focusRing(page: Page, selector: string) {
  // Keyboard focus, so :focus-visible applies as it does for a keyboard user.
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) break;
  }
  return await page.evaluate((s) => {
    const el = document.activeElement!;
    const style = getComputedStyle(el);
    const layers: string[] = [];
    for (let e = el.parentElement; e; e = e.parentElement) layers.push(getComputedStyle(e).backgroundColor);
    return {
      focused: el.matches(s),
      focusVisible: el.matches(":focus-visible"),
      outlineStyle: style.outlineStyle,
      outlineWidth: Number.parseFloat(style.outlineWidth),
      outlineOffset: Number.parseFloat(style.outlineOffset),
      outlineColor: style.outlineColor,
      background: style.backgroundColor,
      around: layers,
    };
  }, selector);
}

function expectRing(ring: Awaited<ReturnType<typeof focusRing>>, what: string) {
  expect({ what, focused: ring.focused, focusVisible: ring.focusVisible }).toEqual({
    what,
    focused: true,
    focusVisible: true,
  });
  expect(ring.outlineStyle).not.toBe("none");
  expect(ring.outlineWidth).toBeGreaterThanOrEqual(2);
  const around = backdrop(ring.around);
  // With an offset the ring is drawn on the surroundings; without one it touches the element.
  const ringOn = ring.outlineOffset > 0 ? around : backdrop([ring.background, ...ring.around]);
  expect({ what, ring: contrastRatio(parseColor(ring.outlineColor), ringOn) >= 3 }).toEqual({ what, ring: true });
  expect({ what, control: contrastRatio(backdrop([ring.background, ...ring.around]), around) >= 3 }).toEqual({
    what,
    control: true,
  });
}

describe("the first screen", () => {
  test(
    "on a phone (390×844) the copy button is fully visible without scrolling, with a long merchant and a description",
    async () => {
      const payment = await createOrder(254.3);
      const { ctx, page, watched } = await openPage(payment.bank_payment_id, phoneContext());
      const box = await page.locator("button[data-copy]").evaluate((b) => {
        const r = b.getBoundingClientRect();
        return { top: r.top, bottom: r.bottom, height: r.height, viewport: innerHeight, scrollY };
      });
      expect(box.scrollY).toBe(0);
      expect(box.viewport).toBe(844);
      expect(box.top).toBeGreaterThanOrEqual(0);
      expect(box.height).toBeGreaterThanOrEqual(44); // a thumb-sized target
      expect(box.bottom).toBeLessThanOrEqual(box.viewport);
      expect(await page.locator("button[data-copy]").isVisible()).toBe(true);
      expect(await page.locator("[data-description]").isVisible()).toBe(true);
      await page.screenshot({ path: join(ARTIFACTS_DIR, "checkout-phone-first-screen.png") });
      expect(watched.problems).toEqual([]);
      await ctx.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "on a desktop (1280×800) the whole QR code is on the first screen",
    async () => {
      const payment = await createOrder(254.3);
      const { ctx, page, watched } = await openPage(payment.bank_payment_id, desktopContext());
      await page.waitForFunction(() => (document.querySelector(".qr img") as HTMLImageElement).naturalWidth > 0);
      const qr = await page.locator(".qr img").evaluate((img) => {
        const r = img.getBoundingClientRect();
        return { top: r.top, bottom: r.bottom, width: r.width, viewport: innerHeight };
      });
      expect(qr.top).toBeGreaterThanOrEqual(0);
      expect(qr.width).toBeGreaterThanOrEqual(200);
      expect(qr.bottom).toBeLessThanOrEqual(qr.viewport);
      await page.screenshot({ path: join(ARTIFACTS_DIR, "checkout-desktop-first-screen.png") });
      expect(watched.problems).toEqual([]);
      await ctx.close();
    },
    BROWSER_TEST_MS,
  );
});

describe("contrast (WCAG 2.1 AA), computed from the computed styles", () => {
  for (const [name, context] of VIEWPORTS) {
    test(
      `${name}: every text ≥ 4.5:1, the copy button and its focus ring ≥ 3:1, pending and paid`,
      async () => {
        const payment = await createOrder(12.34);
        const { ctx, page } = await openPage(payment.bank_payment_id, context());
        expectTextContrast(await textColors(page), `${name} pending`);
        expectRing(await focusRing(page, "button[data-copy]"), `${name} copy button`);

        expect((await restConfirm(app.url, { bank_payment_id: payment.bank_payment_id, value: 12.34 })).status).toBe(
          200,
        );
        await page.locator("[data-state=paid]").waitFor({ state: "visible", timeout: 5000 });
        expectTextContrast(await textColors(page), `${name} paid`);
        expectRing(await focusRing(page, "a[data-return]"), `${name} return link`);
        await ctx.close();
      },
      BROWSER_TEST_MS,
    );
  }

  test("the helper itself: black on white is 21:1, the WCAG example grey #767676 on white is 4.54:1", () => {
    expect(contrastRatio([0, 0, 0, 1], [255, 255, 255, 1])).toBeCloseTo(21, 5);
    expect(contrastRatio([0x76, 0x76, 0x76, 1], [255, 255, 255, 1])).toBeCloseTo(4.54, 2);
    expect(backdrop(["rgba(0, 0, 0, 0)", "rgba(0, 0, 0, 0.5)", "rgb(255, 255, 255)"])).toEqual([
      127.5, 127.5, 127.5, 1,
    ]);
  });
});

describe("the order on the page", () => {
  test(
    "shows the description as text (escaped), never the metadata; once paid, live, a link back to the shop",
    async () => {
      const payment = await createOrder(99.9);
      const html = await (await fetch(`${app.url}/pay/${payment.bank_payment_id}`)).text();
      expect(html).not.toContain(SECRET_METADATA.internal_note);
      expect(html).not.toContain("internal_note");
      expect(html).not.toContain("<b>&</b>");

      const { ctx, page, watched } = await openPage(payment.bank_payment_id, phoneContext());
      expect(await page.locator("[data-description]").textContent()).toBe(DESCRIPTION);
      expect(await page.locator("[data-description] b").count()).toBe(0);
      // Not paid yet: no way back to the shop is offered.
      expect(await page.locator("a[data-return]").isVisible()).toBe(false);
      await page.waitForFunction(() => document.querySelector("[data-countdown-line]:not([hidden])") !== null);

      expect((await restConfirm(app.url, { bank_payment_id: payment.bank_payment_id, value: 99.9 })).status).toBe(200);
      const link = page.locator("a[data-return]");
      await link.waitFor({ state: "visible", timeout: 5000 });
      expect(await link.textContent()).toBe("Voltar para a loja");
      expect(await link.getAttribute("href")).toBe(RETURN_URL);
      expect(await link.getAttribute("rel")).toBe("noopener noreferrer");
      expect(await page.locator("#checkout").getAttribute("data-status")).toBe("paid");
      await saveScreenshot(page, "checkout-paid-return.png");
      expect(watched.problems).toEqual([]);
      await ctx.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "in English the link says 'Back to the shop'; a page opened already paid has it without JavaScript",
    async () => {
      const payment = await createOrder(5);
      await restConfirm(app.url, { bank_payment_id: payment.bank_payment_id, value: 5 });
      const { ctx, page } = await openPage(
        payment.bank_payment_id,
        phoneContext({ javaScriptEnabled: false, locale: "en-US", extraHTTPHeaders: { "accept-language": "en" } }),
      );
      expect(await page.locator("a[data-return]").textContent()).toBe("Back to the shop");
      expect(await page.locator("a[data-return]").isVisible()).toBe(true);
      await ctx.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "without description or return_url the page has neither; a stored javascript: URL never becomes a link",
    async () => {
      const plain = await createOrder(7, { description: null, return_url: null });
      await restConfirm(app.url, { bank_payment_id: plain.bank_payment_id, value: 7 });
      const plainHtml = await (await fetch(`${app.url}/pay/${plain.bank_payment_id}`)).text();
      expect(plainHtml).not.toContain("data-description");
      expect(plainHtml).not.toContain("data-return");

      // Written past the API, as a bad row from elsewhere would be: the page checks the URL again.
      const forged = await createOrder(8);
      await app.query(
        "UPDATE payments SET return_url = 'javascript:alert(1)' WHERE bank_payment_id = ?",
        forged.bank_payment_id,
      );
      await restConfirm(app.url, { bank_payment_id: forged.bank_payment_id, value: 8 });
      const forgedHtml = await (await fetch(`${app.url}/pay/${forged.bank_payment_id}`)).text();
      expect(forgedHtml).toContain("Pagamento confirmado");
      expect(forgedHtml).not.toContain("javascript:");
      expect(forgedHtml).not.toContain("data-return");
    },
    BROWSER_TEST_MS,
  );
});

describe("the status attribute follows the live state", () => {
  test(
    "data-status turns from pending to paid when the confirmation arrives over the socket",
    async () => {
      const payment = await createOrder(21);
      const { ctx, page } = await openPage(payment.bank_payment_id, phoneContext());
      expect(await page.locator("#checkout").getAttribute("data-status")).toBe("pending");
      await page.waitForFunction(() => document.querySelector("[data-live-text]") !== null);
      await Bun.sleep(200); // the socket's first snapshot
      await restConfirm(app.url, { bank_payment_id: payment.bank_payment_id, value: 21 });
      await page.waitForFunction(
        () => document.getElementById("checkout")!.getAttribute("data-status") === "paid",
        null,
        {
          timeout: 5000,
        },
      );
      expect(await page.locator("[data-state=paid]").isVisible()).toBe(true);
      await ctx.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "data-status turns to expired when the server announces the expiry",
    async () => {
      const payment = await createOrder(22);
      const { ctx, page } = await openPage(payment.bank_payment_id, phoneContext());
      await Bun.sleep(200);
      const skipped = 1800_000 + 1000;
      clock.advance(skipped);
      try {
        expect((await app.service.expireDue()).map((p) => p.bankPaymentId)).toContain(payment.bank_payment_id);
      } finally {
        clock.advance(-skipped);
      }
      await page.waitForFunction(
        () => document.getElementById("checkout")!.getAttribute("data-status") === "expired",
        null,
        { timeout: 5000 },
      );
      expect(await page.locator("[data-state=expired]").isVisible()).toBe(true);
      await ctx.close();
    },
    BROWSER_TEST_MS,
  );
});

describe("without JavaScript", () => {
  test(
    "the page shows the expiry time and no countdown (it could not run); with JavaScript the countdown shows",
    async () => {
      const payment = await createOrder(40);
      const off = await openPage(payment.bank_payment_id, phoneContext({ javaScriptEnabled: false }));
      expect(await off.page.locator("[data-countdown]").isVisible()).toBe(false);
      expect(await off.page.locator(".deadline").isVisible()).toBe(true);
      // The manual clock's 15:15:25Z plus 30 minutes, in Brasília time.
      expect(await off.page.locator(".deadline").textContent()).toBe(
        "Válido até 08/04/2025, 12:45 (horário de Brasília)",
      );
      expect(await off.page.locator(".deadline time").getAttribute("datetime")).toBe("2025-04-08T15:45:25.000Z");
      await saveScreenshot(off.page, "checkout-pending-nojs.png");
      await off.ctx.close();

      const on = await openPage(payment.bank_payment_id, phoneContext());
      await on.page.locator("[data-countdown]").waitFor({ state: "visible", timeout: 3000 });
      expect(await on.page.locator("[data-countdown]").textContent()).toMatch(/^(30:00|29:5\d)$/);
      await on.ctx.close();
    },
    BROWSER_TEST_MS,
  );
});
