/**
 * GET /docs: the API reference page drawn by Swagger UI from the service's own /openapi.json, in a real
 * Chromium under the page's strict CSP, and its files over plain HTTP (caching, 404s, 405s).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser } from "playwright-core";
import { ROOT, startTestApp, type TestApp, waitUntil } from "./harness.ts";
import { launchBrowser, saveScreenshot, watchPage } from "./pages.browser.ts";

// bun would otherwise stop a browser test at its default 5 s (and kill Chromium with it).
const BROWSER_TEST_MS = 30_000;
const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"] as const;

let app: TestApp;

beforeAll(() => {
  app = startTestApp();
});
afterAll(async () => {
  await app?.stop();
});

/** Every operation of the served OpenAPI document: method, path and summary. */
async function documentedOperations() {
  const doc = (await (await fetch(`${app.url}/openapi.json`)).json()) as {
    paths: Record<string, Record<string, { summary?: string }>>;
  };
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((method) => ({ method, path, summary: item[method]!.summary ?? "" })),
  );
}

function expectStrictPolicy(csp: string | null | undefined) {
  expect(csp).toBeTruthy();
  expect(csp).not.toContain("unsafe-inline");
  expect(csp).not.toContain("unsafe-eval");
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("style-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
}

/** The /docs/assets/ links of the page's HTML, in document order. */
function assetLinks(html: string): string[] {
  return [...html.matchAll(/(?:href|src)="(\/docs\/assets\/[^"]+)"/g)].map((m) => m[1]!);
}

describe("the reference page in Chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchBrowser();
  }, BROWSER_TEST_MS);
  afterAll(async () => {
    await browser?.close();
  });

  test(
    "shows every operation of /openapi.json; no CSP violation, no console error, no request off the server's origin",
    async () => {
      const operations = await documentedOperations();
      expect(operations.length).toBeGreaterThanOrEqual(7);
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      const watched = await watchPage(page);

      const response = await page.goto(`${app.url}/docs`);
      expect(response?.status()).toBe(200);
      const headers = response!.headers();
      expectStrictPolicy(headers["content-security-policy"]);
      expect(headers["x-content-type-options"]).toBe("nosniff");
      expect(headers["referrer-policy"]).toBe("no-referrer");

      await page.getByText("Create a PIX payment", { exact: true }).waitFor({ state: "visible", timeout: 10_000 });
      expect(await page.getByText("/payments/pix/confirmation", { exact: true }).isVisible()).toBe(true);
      expect(await page.getByRole("heading", { name: /^PIX Payment API\b/ }).isVisible()).toBe(true);
      for (const op of operations) {
        const row = page
          .locator(".opblock-summary")
          .filter({ has: page.getByText(op.path, { exact: true }) })
          .filter({ has: page.getByText(op.summary, { exact: true }) });
        expect(await row.count(), `${op.method} ${op.path}`).toBe(1);
        expect(await row.isVisible()).toBe(true);
        expect((await row.textContent())?.toLowerCase()).toContain(op.method);
      }

      // Open an operation and the API key dialog: what Swagger UI draws later must pass the CSP too.
      await page.getByText("Create a PIX payment", { exact: true }).click();
      await page.getByText("Idempotency-Key", { exact: true }).waitFor({ state: "visible" });
      await page.getByRole("button", { name: "Try it out" }).first().click();
      await page
        .getByRole("button", { name: /Authorize/ })
        .first()
        .click();
      await page.getByText("Available authorizations").waitFor({ state: "visible" });
      await page.getByRole("button", { name: "Close" }).first().click();
      await saveScreenshot(page, "docs.png");
      // Violation events are dispatched as tasks; let any pending one arrive before looking.
      await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 200)));

      expect(watched.problems).toEqual([]);
      const origin = new URL(app.url).origin;
      expect(watched.requests.some((u) => u.endsWith("/openapi.json"))).toBe(true);
      expect(watched.requests.some((u) => u.includes("/docs/assets/swagger-ui-bundle.js?v="))).toBe(true);
      expect(watched.requests.filter((u) => new URL(u).origin !== origin)).toEqual([]);
      await context.close();
    },
    BROWSER_TEST_MS,
  );

  test(
    "the same watch reports a style the page did not ship, so the test above can fail",
    async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const watched = await watchPage(page);
      await page.goto(`${app.url}/docs`);
      await page.getByText("Create a PIX payment", { exact: true }).waitFor({ state: "visible", timeout: 10_000 });
      await page.evaluate(() => {
        const style = document.createElement("style");
        style.textContent = "body { color: red }";
        document.head.append(style);
      });
      await waitUntil(() => watched.problems.some((p) => p.includes("CSP violation")), 3000, "a CSP violation report");
      await context.close();
    },
    BROWSER_TEST_MS,
  );
});

describe("the reference page over HTTP", () => {
  test("GET /docs: HTML, never stored, strict CSP, nosniff, no referrer; HEAD answers the same without a body", async () => {
    const res = await fetch(`${app.url}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expectStrictPolicy(res.headers.get("content-security-policy"));
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    const html = await res.text();
    expect(html).toContain('data-openapi-url="/openapi.json"');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/<style|\sstyle=/);
    expect(html).not.toMatch(/https?:\/\//); // nothing from another origin

    const head = await fetch(`${app.url}/docs`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await head.text()).toBe("");
  });

  test("the page's assets are the installed swagger-ui-dist files and ours: versioned, immutable, ETag, 304", async () => {
    const links = assetLinks(await (await fetch(`${app.url}/docs`)).text());
    expect(links.map((l) => l.replace(/\?v=[0-9a-f]{12}$/, ""))).toEqual([
      "/docs/assets/favicon-32x32.png",
      "/docs/assets/swagger-ui.css",
      "/docs/assets/docs.css",
      "/docs/assets/swagger-ui-bundle.js",
      "/docs/assets/docs.js",
    ]);
    const sources: Record<string, string> = {
      "favicon-32x32.png": fileURLToPath(import.meta.resolve("swagger-ui-dist/favicon-32x32.png")),
      "swagger-ui.css": fileURLToPath(import.meta.resolve("swagger-ui-dist/swagger-ui.css")),
      "swagger-ui-bundle.js": fileURLToPath(import.meta.resolve("swagger-ui-dist/swagger-ui-bundle.js")),
      "docs.css": join(ROOT, "src/http/docs-assets/docs.css"),
      "docs.js": join(ROOT, "src/http/docs-assets/docs.js"),
    };
    const types: Record<string, string> = {
      png: "image/png",
      css: "text/css; charset=utf-8",
      js: "text/javascript; charset=utf-8",
    };
    for (const link of links) {
      const name = /\/docs\/assets\/([^?]+)/.exec(link)![1]!;
      const res = await fetch(`${app.url}${link}`);
      expect(res.status, link).toBe(200);
      expect(res.headers.get("content-type")).toBe(types[name.split(".").pop()!]!);
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(Buffer.from(await res.arrayBuffer()).equals(readFileSync(sources[name]!))).toBe(true);
      const etag = res.headers.get("etag");
      expect(etag).toMatch(/^"[0-9a-f]{32}"$/);
      const again = await fetch(`${app.url}${link}`, { headers: { "if-none-match": etag! } });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe("");

      const unversioned = await fetch(`${app.url}/docs/assets/${name}`);
      expect(unversioned.status).toBe(200);
      expect(unversioned.headers.get("cache-control")).toBe("public, max-age=0, must-revalidate");
      expect(unversioned.headers.get("etag")).toBe(etag);
      await unversioned.arrayBuffer();
      const stale = await fetch(`${app.url}/docs/assets/${name}?v=000000000000`);
      expect(stale.headers.get("cache-control")).toBe("public, max-age=0, must-revalidate");
      await stale.arrayBuffer();
    }
  });

  test("unknown paths under /docs answer 404 {message: Not found}", async () => {
    for (const path of [
      "/docs/assets/nope.js",
      "/docs/assets/swagger-ui.js", // in the package, but not served
      "/docs/assets/index.html",
      "/docs/assets/%2e%2e%2fpackage.json",
      "/docs/assets/",
      "/docs/",
      "/docs/openapi.json",
      "/docsx",
    ]) {
      const res = await fetch(`${app.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.json()).toEqual({ message: "Not found" });
    }
    const post = await fetch(`${app.url}/docs/assets/nope.js`, { method: "POST" });
    expect(post.status).toBe(404);
    await post.arrayBuffer();
  });

  test("other methods on /docs and its assets answer 405 {message: Method not allowed} with Allow", async () => {
    for (const [method, path] of [
      ["POST", "/docs"],
      ["PUT", "/docs"],
      ["DELETE", "/docs"],
      ["OPTIONS", "/docs"],
      ["POST", "/docs/assets/docs.js"],
    ] as const) {
      const res = await fetch(`${app.url}${path}`, { method, body: method === "POST" ? "{}" : undefined });
      expect(res.status, `${method} ${path}`).toBe(405);
      expect(res.headers.get("allow")).toBe("GET, HEAD");
      expect(await res.json()).toEqual({ message: "Method not allowed" });
    }
  });
});
