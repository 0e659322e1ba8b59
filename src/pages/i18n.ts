/** Languages of the payer-facing pages; Portuguese first because PIX payers are in Brazil. */
export type Locale = "pt-BR" | "en";

export const DEFAULT_LOCALE: Locale = "pt-BR";

/**
 * Times are shown in Brasília time on the server and in the script alike, so a page rendered by the server
 * and one updated live read the same; a payer paying with PIX is almost always on that clock.
 */
export const DISPLAY_TIME_ZONE = "America/Sao_Paulo";

/**
 * Picks the page language from an Accept-Language header: the highest q-value that names Portuguese or
 * English wins (ties keep header order); `q=0` means "not this one"; anything else falls back to pt-BR.
 */
export function negotiateLocale(header: string | null): Locale {
  if (!header) return DEFAULT_LOCALE;
  const ranges = header
    .slice(0, 1000)
    .split(",")
    .map((part, order) => {
      const [tagPart, ...params] = part.trim().split(";");
      const tag = (tagPart ?? "").trim().toLowerCase();
      let q = 1;
      for (const param of params) {
        const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(param);
        if (m) q = Number(m[1]);
        else if (/^\s*q\s*=/i.test(param)) q = -1; // a malformed weight: ignore the range
      }
      return { tag, q, order };
    })
    .filter((r) => r.tag !== "" && r.q > 0 && r.q <= 1)
    .sort((a, b) => b.q - a.q || a.order - b.order);
  for (const { tag } of ranges) {
    const primary = tag.split("-")[0];
    if (primary === "pt") return "pt-BR";
    if (primary === "en") return "en";
    if (tag === "*") return DEFAULT_LOCALE;
  }
  return DEFAULT_LOCALE;
}

const BRL = new Intl.NumberFormat("pt-BR", { style: "currency", currency: "BRL" });

/**
 * Formats integer cents as Brazilian reais ("R$ 254,30", with a no-break space) in every language:
 * it is the amount exactly as the payer's bank app will show it.
 */
export function formatBrl(cents: number): string {
  return BRL.format(cents / 100);
}

const dateTimeFormats: Record<Locale, Intl.DateTimeFormat> = {
  "pt-BR": new Intl.DateTimeFormat("pt-BR", {
    timeZone: DISPLAY_TIME_ZONE,
    day: "2-digit",
    month: "2-digit",
    year: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  }),
  en: new Intl.DateTimeFormat("en", {
    timeZone: DISPLAY_TIME_ZONE,
    day: "numeric",
    month: "short",
    year: "numeric",
    hour: "numeric",
    minute: "2-digit",
  }),
};

/** Formats an epoch-millisecond time for the page, in Brasília time. */
export function formatDateTime(ms: number, locale: Locale): string {
  return dateTimeFormats[locale].format(new Date(ms));
}

/** Formats a remaining duration as "29:59" or "1:05:09" (what the countdown shows). */
export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mmss = `${String(m).padStart(h > 0 ? 2 : 1, "0")}:${String(s).padStart(2, "0")}`;
  return h > 0 ? `${h}:${mmss}` : mmss;
}

/** Every string the checkout pages show, per language. */
export interface Messages {
  titlePending: string;
  titlePaid: string;
  titleExpired: string;
  titleRefunded: string;
  titleNotFound: string;
  payTo: string;
  amount: string;
  expiresIn: string;
  validUntil: string;
  timeZoneNote: string;
  qrAlt: string;
  steps: [string, string, string];
  copyPasteLabel: string;
  copy: string;
  copied: string;
  copyFailed: string;
  waiting: string;
  reconnecting: string;
  noScript: string;
  paidHeading: string;
  paidAt: string;
  paidNote: string;
  /** The paid note when the shop gave a return_url: the payer goes back rather than closing the page. */
  paidNoteReturn: string;
  backToShop: string;
  expiredHeading: string;
  expiredNote: string;
  refundedHeading: string;
  refundedNote: string;
  notFoundHeading: string;
  notFoundNote: string;
  footer: string;
}

export const MESSAGES: Record<Locale, Messages> = {
  "pt-BR": {
    titlePending: "Pagar com Pix",
    titlePaid: "Pagamento confirmado",
    titleExpired: "Pagamento expirado",
    titleRefunded: "Pagamento estornado",
    titleNotFound: "Pagamento não encontrado",
    payTo: "Pagamento para",
    amount: "Valor",
    expiresIn: "Expira em",
    validUntil: "Válido até",
    timeZoneNote: "horário de Brasília",
    qrAlt: "QR Code Pix",
    steps: [
      "Abra o app do seu banco e escolha pagar com Pix.",
      "Escaneie o QR Code ou cole o código Pix Copia e Cola.",
      "Confirme o pagamento. Esta página se atualiza sozinha.",
    ],
    copyPasteLabel: "Pix Copia e Cola",
    copy: "Copiar código",
    copied: "Copiado!",
    copyFailed: "Selecione o código e copie",
    waiting: "Aguardando pagamento…",
    reconnecting: "Reconectando…",
    noScript: "Depois de pagar, recarregue esta página para ver a confirmação.",
    paidHeading: "Pagamento confirmado",
    paidAt: "Pago em",
    paidNote: "Obrigado! Você já pode fechar esta página.",
    paidNoteReturn: "Obrigado! Volte para a loja para acompanhar o seu pedido.",
    backToShop: "Voltar para a loja",
    expiredHeading: "Pagamento expirado",
    expiredNote: "O prazo para pagar terminou e este código não vale mais. Peça um novo link à loja.",
    refundedHeading: "Pagamento estornado",
    refundedNote: "O valor foi devolvido via Pix para a conta de onde saiu.",
    notFoundHeading: "Pagamento não encontrado",
    notFoundNote: "Confira se o link está completo ou peça um novo link à loja.",
    footer: "Pagamento instantâneo via Pix",
  },
  en: {
    titlePending: "Pay with Pix",
    titlePaid: "Payment confirmed",
    titleExpired: "Payment expired",
    titleRefunded: "Payment refunded",
    titleNotFound: "Payment not found",
    payTo: "Payment to",
    amount: "Amount",
    expiresIn: "Expires in",
    validUntil: "Valid until",
    timeZoneNote: "Brasília time",
    qrAlt: "Pix QR code",
    steps: [
      "Open your bank app and choose to pay with Pix.",
      "Scan the QR code or paste the Pix copy-and-paste code.",
      "Confirm the payment. This page updates by itself.",
    ],
    copyPasteLabel: "Pix copy and paste",
    copy: "Copy code",
    copied: "Copied!",
    copyFailed: "Select the code and copy it",
    waiting: "Waiting for payment…",
    reconnecting: "Reconnecting…",
    noScript: "After paying, reload this page to see the confirmation.",
    paidHeading: "Payment confirmed",
    paidAt: "Paid on",
    paidNote: "Thank you! You can close this page now.",
    paidNoteReturn: "Thank you! Go back to the shop to follow your order.",
    backToShop: "Back to the shop",
    expiredHeading: "Payment expired",
    expiredNote: "The time to pay has run out and this code is no longer valid. Ask the shop for a new link.",
    refundedHeading: "Payment refunded",
    refundedNote: "The amount has been returned by Pix to the account it was paid from.",
    notFoundHeading: "Payment not found",
    notFoundNote: "Check that the link is complete, or ask the shop for a new link.",
    footer: "Instant payment via Pix",
  },
};
