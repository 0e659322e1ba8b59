/**
 * Real-browser helpers for the checkout page tests: Debian's Chromium driven by playwright-core.
 * A missing browser fails the tests with instructions; it never skips them.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import jsQR from "jsqr";
import { type Browser, type BrowserContextOptions, chromium, type Page } from "playwright-core";
import { PNG } from "pngjs";
import { ROOT } from "./harness.ts";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const ARTIFACTS_DIR = join(ROOT, "test/artifacts");

/** Launches Chromium once per test file; throws with the fix when it is not installed. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM_PATH}; the browser tests need a real browser. ` +
        "Install it with `apt-get install chromium` (or set CHROMIUM_PATH).",
    );
  }
  return await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
    ],
  });
}

/** A phone-sized context in Brasília time; pass `extraHTTPHeaders` or `javaScriptEnabled` to vary it. */
export function phoneContext(options: BrowserContextOptions = {}): BrowserContextOptions {
  return {
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    timezoneId: "America/Sao_Paulo",
    locale: "pt-BR",
    ...options,
  };
}

/**
 * Records what a payer's browser would complain about: console errors and warnings (Chromium reports CSP
 * violations there), uncaught exceptions, `securitypolicyviolation` events, and every URL requested.
 */
export async function watchPage(page: Page) {
  const problems: string[] = [];
  const requests: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error" || msg.type() === "warning") problems.push(`console.${msg.type()}: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`pageerror: ${err.message}`));
  page.on("request", (req) => requests.push(req.url()));
  page.on("websocket", (ws) => requests.push(ws.url()));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  return { problems, requests };
}

/** Saves a screenshot of the whole page content (no empty viewport below it) under test/artifacts/. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, name);
  await page.locator("body").screenshot({ path });
  return path;
}

/** Decodes the QR code in a PNG image; null when none is found. */
export function decodeQrPng(png: Uint8Array): string | null {
  const image = PNG.sync.read(Buffer.from(png));
  return (
    jsQR(new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length), image.width, image.height)
      ?.data ?? null
  );
}
