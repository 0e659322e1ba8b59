import type { Clock } from "../clock.ts";
import { QR_CACHE_ENTRIES } from "../limits.ts";
import { PaymentError } from "../payments/errors.ts";
import { BANK_PAYMENT_ID, type Payment, type PaymentStatus } from "../payments/model.ts";
import { isReturnUrl } from "../payments/schema.ts";
import type { PaymentService } from "../payments/service.ts";
import { type Asset, assetPath, findAsset } from "./assets.ts";
import {
  DISPLAY_TIME_ZONE,
  formatBrl,
  formatCountdown,
  formatDateTime,
  type Locale,
  MESSAGES,
  type Messages,
  negotiateLocale,
} from "./i18n.ts";
import { contentSecurityPolicy, escapeHtml, etagMatches, securityHeaders, strongEtag } from "./page-headers.ts";
import { createQrCache, type QrCache, type QrFormat, qrIdentity } from "./qr.ts";

/** What the composition root gives the checkout pages besides the service. */
export interface CheckoutOptions {
  /** Shown to the payer as the receiver (the same PIX_MERCHANT_NAME the BR Code carries). */
  merchantName: string;
  /** The service's clock, so the countdown starts from the same "now" that decides expiry. */
  clock: Clock;
}

export interface CheckoutDeps extends CheckoutOptions {
  service: Pick<PaymentService, "getByBankPaymentId">;
}

const PAY_PATH = /^\/pay\/([^/]{1,64})(?:\/(qr\.png|qr\.svg))?$/;
const ASSET_PATH = /^\/pay\/assets\/([\w.-]{1,64})$/;

const IMMUTABLE = "public, max-age=31536000, immutable";

type Routed = { route: string; response: Response };

/** The payer-facing surface under /pay/: checkout page, QR images and the page's static files. */
export function createCheckoutPages(deps: CheckoutDeps) {
  const qrImages = createQrCache({ maxEntries: QR_CACHE_ENTRIES });
  async function findPayment(bankPaymentId: string): Promise<Payment | null> {
    try {
      return await deps.service.getByBankPaymentId(bankPaymentId);
    } catch (err) {
      if (err instanceof PaymentError && err.code === "PAYMENT_NOT_FOUND") return null;
      throw err;
    }
  }

  function notFound(route: string, locale: Locale, csp: string): Routed {
    return { route, response: html(404, renderNotFoundPage(locale), csp) };
  }

  return {
    /** Answers any request whose path starts with /pay/. */
    async handle(req: Request, url: URL): Promise<Routed> {
      const path = url.pathname;
      const csp = contentSecurityPolicy(url.host);
      const locale = negotiateLocale(req.headers.get("accept-language"));

      if (req.method !== "GET" && req.method !== "HEAD") {
        return {
          route: "/pay/*",
          response: new Response("Method not allowed\n", {
            status: 405,
            headers: { ...securityHeaders(csp), allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" },
          }),
        };
      }

      const assetMatch = ASSET_PATH.exec(path);
      if (assetMatch) {
        const asset = findAsset(assetMatch[1]!);
        if (!asset) return notFound("/pay/assets/:file", locale, csp);
        return { route: "/pay/assets/:file", response: serveAsset(req, url, asset, csp) };
      }

      const match = PAY_PATH.exec(path);
      const qrFile = match?.[2] as "qr.png" | "qr.svg" | undefined;
      const route = qrFile ? `/pay/:bank_payment_id/${qrFile}` : "/pay/:bank_payment_id";
      const bankPaymentId = match?.[1];
      if (!bankPaymentId || !BANK_PAYMENT_ID.test(bankPaymentId)) return notFound(route, locale, csp);
      const payment = await findPayment(bankPaymentId);
      if (!payment) return notFound(route, locale, csp);

      if (qrFile) {
        const format = qrFile === "qr.png" ? "png" : "svg";
        return { route, response: await serveQr(req, payment.brCode, format, csp, qrImages) };
      }
      const page = renderCheckoutPage({ payment, locale, merchantName: deps.merchantName, now: deps.clock.now() });
      return { route, response: html(200, page, csp) };
    },
  };
}

function html(status: number, body: string, csp: string): Response {
  return new Response(body, {
    status,
    headers: {
      ...securityHeaders(csp),
      "content-type": "text/html; charset=utf-8",
      // The status changes and the URL is a capability: never keep a copy anywhere.
      "cache-control": "no-store",
      vary: "Accept-Language",
    },
  });
}

function serveAsset(req: Request, url: URL, asset: Asset, csp: string): Response {
  const headers: Record<string, string> = {
    ...securityHeaders(csp),
    "content-type": asset.contentType,
    etag: asset.etag,
    // Links carry ?v=<hash>, so a versioned URL's bytes never change; an unversioned one revalidates.
    "cache-control": url.searchParams.get("v") === asset.version ? IMMUTABLE : "public, max-age=0, must-revalidate",
  };
  if (etagMatches(req.headers.get("if-none-match"), asset.etag)) return new Response(null, { status: 304, headers });
  return new Response(asset.body, { headers });
}

async function serveQr(
  req: Request,
  payload: string,
  format: QrFormat,
  csp: string,
  images: QrCache,
): Promise<Response> {
  const etag = strongEtag(qrIdentity(payload, format));
  const headers: Record<string, string> = {
    ...securityHeaders(csp),
    etag,
    // The payload of a payment never changes, so neither does its image.
    "cache-control": IMMUTABLE,
  };
  if (etagMatches(req.headers.get("if-none-match"), etag)) return new Response(null, { status: 304, headers });
  const { body, contentType } = await images.get(payload, format);
  return new Response(body, { headers: { ...headers, "content-type": contentType } });
}

function documentHead(locale: Locale, title: string): string {
  return `<!doctype html>
<html lang="${locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="light">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="${assetPath("icon.svg")}" type="image/svg+xml">
<link rel="stylesheet" href="${assetPath("checkout.css")}">`;
}

function initialOf(name: string): string {
  return (Array.from(name.trim())[0] ?? "P").toLocaleUpperCase("pt-BR");
}

const ICON_CHECK = `<svg class="state-icon" viewBox="0 0 48 48" aria-hidden="true"><circle cx="24" cy="24" r="24" fill="currentColor"/><path d="M14 24.5l6.5 6.5L34 17.5" fill="none" stroke="#fff" stroke-width="4" stroke-linecap="round" stroke-linejoin="round"/></svg>`;
const ICON_CLOCK = `<svg class="state-icon" viewBox="0 0 48 48" aria-hidden="true"><circle cx="24" cy="24" r="24" fill="currentColor"/><circle cx="24" cy="24" r="13" fill="none" stroke="#fff" stroke-width="3.5"/><path d="M24 17v8l5 3" fill="none" stroke="#fff" stroke-width="3.5" stroke-linecap="round" stroke-linejoin="round"/></svg>`;
const ICON_PIX = `<svg class="pix-mark" viewBox="0 0 24 24" aria-hidden="true"><path d="M12 2.5l9.5 9.5-9.5 9.5L2.5 12z" fill="none" stroke="currentColor" stroke-width="2.2" stroke-linejoin="round"/><path d="M12 7.8l4.2 4.2-4.2 4.2L7.8 12z" fill="currentColor"/></svg>`;
const ICON_REFUND = `<svg class="state-icon" viewBox="0 0 48 48" aria-hidden="true"><circle cx="24" cy="24" r="24" fill="currentColor"/><path d="M17 19h11a7 7 0 0 1 0 14h-9" fill="none" stroke="#fff" stroke-width="3.5" stroke-linecap="round" stroke-linejoin="round"/><path d="M21.5 14.5L17 19l4.5 4.5" fill="none" stroke="#fff" stroke-width="3.5" stroke-linecap="round" stroke-linejoin="round"/></svg>`;
const ICON_MISSING = `<svg class="state-icon" viewBox="0 0 48 48" aria-hidden="true"><circle cx="24" cy="24" r="24" fill="currentColor"/><path d="M18.5 18.5a5.5 5.5 0 1 1 7.6 5.1c-1.3.6-2.1 1.6-2.1 3v1.4" fill="none" stroke="#fff" stroke-width="3.5" stroke-linecap="round"/><circle cx="24" cy="34" r="2.2" fill="#fff"/></svg>`;

/** What the page shows: the payment's status, or `refunded` once refunds add up to its whole value. */
export type CheckoutState = PaymentStatus | "refunded";

export function checkoutStateOf(payment: Payment): CheckoutState {
  return payment.status === "paid" && payment.refundedCents >= payment.amountCents ? "refunded" : payment.status;
}

function titleFor(state: CheckoutState, t: Messages): string {
  switch (state) {
    case "paid":
      return t.titlePaid;
    case "expired":
      return t.titleExpired;
    case "refunded":
      return t.titleRefunded;
    case "pending":
      return t.titlePending;
  }
}

/**
 * Renders the checkout page for the payment's current state. Every state is in the document (the others
 * `hidden`), so the script can flip the page without a reload; without JavaScript the server's state is what
 * shows. A paid payment whose refunds add up to its value shows as refunded.
 */
export function renderCheckoutPage(input: {
  payment: Payment;
  locale: Locale;
  merchantName: string;
  now: number;
}): string {
  const { payment, locale, merchantName, now } = input;
  const t = MESSAGES[locale];
  const status = payment.status;
  const shown = checkoutStateOf(payment);
  const amount = formatBrl(payment.amountCents);
  const qrSrc = `/pay/${payment.bankPaymentId}/qr.svg`;
  const hide = (state: CheckoutState) => (state === shown ? "" : " hidden");
  const merchantTitle = `${titleFor(shown, t)} · ${merchantName}`;
  // Stored return_urls passed the schema already; checked again here because this is where an href is made.
  const returnUrl = payment.returnUrl !== null && isReturnUrl(payment.returnUrl) ? payment.returnUrl : null;

  return `${documentHead(locale, merchantTitle)}
<script src="${assetPath("checkout.js")}" defer></script>
</head>
<body>
<main class="checkout" id="checkout"
  data-bank-payment-id="${escapeHtml(payment.bankPaymentId)}"
  data-status="${status}"
  data-fully-refunded="${shown === "refunded"}"
  data-expires-at="${payment.expiresAt}"
  data-server-now="${now}"
  data-time-zone="${DISPLAY_TIME_ZONE}"
  data-merchant="${escapeHtml(merchantName)}">
  <header class="merchant">
    <span class="merchant-badge" aria-hidden="true">${escapeHtml(initialOf(merchantName))}</span>
    <div class="merchant-text">
      <p class="merchant-label">${escapeHtml(t.payTo)}</p>
      <h1 class="merchant-name">${escapeHtml(merchantName)}</h1>
    </div>
  </header>
${
  payment.description === null
    ? ""
    : `  <p class="description" data-description>${escapeHtml(payment.description)}</p>\n`
}
  <div class="amount">
    <span class="amount-label">${escapeHtml(t.amount)}</span>
    <strong class="amount-value" data-amount>${escapeHtml(amount)}</strong>
  </div>

  <section class="state state-pending" data-state="pending" data-title="${escapeHtml(`${t.titlePending} · ${merchantName}`)}"${hide("pending")}>
    <div class="timer">
      <p class="countdown" role="timer" data-countdown-line hidden>
        <span>${escapeHtml(t.expiresIn)}</span>
        <strong data-countdown>${formatCountdown(payment.expiresAt - now)}</strong>
      </p>
      <p class="deadline">${escapeHtml(t.validUntil)} <time datetime="${new Date(payment.expiresAt).toISOString()}">${escapeHtml(formatDateTime(payment.expiresAt, locale))}</time> (${escapeHtml(t.timeZoneNote)})</p>
    </div>
    <div class="pay-code">
      <label class="code-label" for="pix-code">${ICON_PIX}${escapeHtml(t.copyPasteLabel)}</label>
      <button type="button" class="copy" data-copy
        data-label-copy="${escapeHtml(t.copy)}"
        data-label-copied="${escapeHtml(t.copied)}"
        data-label-failed="${escapeHtml(t.copyFailed)}" hidden>${escapeHtml(t.copy)}</button>
      <textarea class="code" id="pix-code" readonly rows="3" spellcheck="false" autocomplete="off">${escapeHtml(payment.brCode)}</textarea>
    </div>
    <figure class="qr">
      <img src="${qrSrc}" width="232" height="232" alt="${escapeHtml(`${t.qrAlt} · ${amount}`)}">
    </figure>
    <ol class="steps">
      ${t.steps.map((step) => `<li>${escapeHtml(step)}</li>`).join("\n      ")}
    </ol>
    <p class="live" data-live data-label-waiting="${escapeHtml(t.waiting)}" data-label-reconnecting="${escapeHtml(t.reconnecting)}"><span class="pulse" aria-hidden="true"></span><span data-live-text>${escapeHtml(t.waiting)}</span></p>
    <noscript><p class="noscript">${escapeHtml(t.noScript)}</p></noscript>
  </section>

  <section class="state state-paid" data-state="paid" data-title="${escapeHtml(`${t.titlePaid} · ${merchantName}`)}"${hide("paid")}>
    ${ICON_CHECK}
    <h2 class="state-heading">${escapeHtml(t.paidHeading)}</h2>
    <p class="state-detail">${escapeHtml(t.paidAt)} <time data-paid-at${
      payment.paidAt === null ? "" : ` datetime="${new Date(payment.paidAt).toISOString()}"`
    }>${payment.paidAt === null ? "" : escapeHtml(formatDateTime(payment.paidAt, locale))}</time> (${escapeHtml(t.timeZoneNote)})</p>
    <p class="state-note">${escapeHtml(returnUrl === null ? t.paidNote : t.paidNoteReturn)}</p>
${
  returnUrl === null
    ? ""
    : `    <a class="return" data-return href="${escapeHtml(returnUrl)}" rel="noopener noreferrer">` +
      `${escapeHtml(t.backToShop)}</a>\n`
}  </section>

  <section class="state state-expired" data-state="expired" data-title="${escapeHtml(`${t.titleExpired} · ${merchantName}`)}"${hide("expired")}>
    ${ICON_CLOCK}
    <h2 class="state-heading">${escapeHtml(t.expiredHeading)}</h2>
    <p class="state-note">${escapeHtml(t.expiredNote)}</p>
  </section>

  <section class="state state-refunded" data-state="refunded" data-title="${escapeHtml(`${t.titleRefunded} · ${merchantName}`)}"${hide("refunded")}>
    ${ICON_REFUND}
    <h2 class="state-heading">${escapeHtml(t.refundedHeading)}</h2>
    <p class="state-note">${escapeHtml(t.refundedNote)}</p>
  </section>

  <p class="sr-only" role="status" aria-live="polite" data-announce></p>
  <footer class="footer">${ICON_PIX}<span>${escapeHtml(t.footer)}</span></footer>
</main>
</body>
</html>
`;
}

/** Renders the 404 page for unknown or malformed payment links. */
export function renderNotFoundPage(locale: Locale): string {
  const t = MESSAGES[locale];
  return `${documentHead(locale, t.titleNotFound)}
</head>
<body>
<main class="checkout not-found">
  <section class="state state-missing">
    ${ICON_MISSING}
    <h1 class="state-heading">${escapeHtml(t.notFoundHeading)}</h1>
    <p class="state-note">${escapeHtml(t.notFoundNote)}</p>
  </section>
  <footer class="footer">${ICON_PIX}<span>${escapeHtml(t.footer)}</span></footer>
</main>
</body>
</html>
`;
}
