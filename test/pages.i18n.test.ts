/**
 * The checkout page's language, formats and HTTP edges, without a browser.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { formatBrl, formatCountdown, formatDateTime, negotiateLocale } from "../src/pages/i18n.ts";
import { escapeHtml, etagMatches } from "../src/pages/page-headers.ts";
import { restCreate, startTestApp, type TestApp } from "./harness.ts";

describe("Accept-Language", () => {
  test.each([
    [null, "pt-BR"],
    ["", "pt-BR"],
    ["en", "en"],
    ["en-US,en;q=0.9", "en"],
    ["pt-BR,pt;q=0.9,en;q=0.8", "pt-BR"],
    ["pt;q=0.4, en-GB;q=0.9, fr", "en"], // fr has q=1 but is not offered; en beats pt on weight
    ["fr-FR, de;q=0.8", "pt-BR"],
    ["en;q=0, pt;q=0.1", "pt-BR"], // q=0 refuses English
    ["en;q=0.5, pt;q=0.5", "en"], // a tie keeps the header's order
    ["*", "pt-BR"],
    ["de, *;q=0.5, en;q=0.4", "pt-BR"],
    ["en;q=abc, pt", "pt-BR"], // a malformed weight drops that range
    ["EN-us", "en"],
  ] as const)("%p → %p", (header, locale) => {
    expect(negotiateLocale(header)).toBe(locale);
  });
});

describe("formats", () => {
  test("amounts are Brazilian reais from integer cents", () => {
    expect(formatBrl(25430)).toBe("R$\u00a0254,30");
    expect(formatBrl(1)).toBe("R$\u00a00,01");
    expect(formatBrl(123456789)).toBe("R$\u00a01.234.567,89");
  });

  test("times are Brasília time in the page's language", () => {
    const at = Date.UTC(2025, 3, 8, 15, 45, 25);
    expect(formatDateTime(at, "pt-BR")).toBe("08/04/2025, 12:45");
    expect(formatDateTime(at, "en")).toBe("Apr 8, 2025, 12:45 PM");
  });

  test("the countdown rounds up to whole seconds and never goes negative", () => {
    expect(formatCountdown(1800_000)).toBe("30:00");
    expect(formatCountdown(1799_001)).toBe("30:00");
    expect(formatCountdown(59_000)).toBe("0:59");
    expect(formatCountdown(3_725_000)).toBe("1:02:05");
    expect(formatCountdown(-5000)).toBe("0:00");
  });

  test("escaping covers text and quoted attributes", () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
      "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;",
    );
  });

  test("If-None-Match matches strong, weak and listed ETags, and *", () => {
    expect(etagMatches('"abc"', '"abc"')).toBe(true);
    expect(etagMatches('W/"abc"', '"abc"')).toBe(true);
    expect(etagMatches('"x", "abc"', '"abc"')).toBe(true);
    expect(etagMatches("*", '"abc"')).toBe(true);
    expect(etagMatches('"abcd"', '"abc"')).toBe(false);
    expect(etagMatches(null, '"abc"')).toBe(false);
  });
});

describe("HTTP edges of /pay/", () => {
  let app: TestApp;
  beforeAll(() => {
    app = startTestApp();
  });
  afterAll(() => app.stop());

  test("HEAD answers like GET without a body; other methods get 405 with Allow", async () => {
    const payment = (await restCreate(app.url, 10)).body.payment;
    const head = await fetch(`${app.url}/pay/${payment.bank_payment_id}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(await head.text()).toBe("");
    const post = await fetch(`${app.url}/pay/${payment.bank_payment_id}`, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    await post.text();
  });

  test("the page's Vary names Accept-Language and it is never stored", async () => {
    const payment = (await restCreate(app.url, 10)).body.payment;
    const res = await fetch(`${app.url}/pay/${payment.bank_payment_id}`);
    await res.text();
    expect(res.headers.get("vary")).toBe("Accept-Language");
    expect(res.headers.get("cache-control")).toBe("no-store");
  });

  test("the path /pay itself and sibling paths are not the checkout's", async () => {
    const res = await fetch(`${app.url}/payments-not`);
    expect(res.status).toBe(404);
    await res.text();
    const bare = await fetch(`${app.url}/pay/`);
    expect(bare.status).toBe(404);
    expect(await bare.text()).toContain("Pagamento não encontrado");
  });
});
