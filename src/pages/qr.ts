import QRCode from "qrcode";

export type QrFormat = "png" | "svg";

/**
 * Part of the ETag: bump it when the rendering options below change, so caches that were told
 * "immutable" fetch the new image instead of keeping the old one forever.
 */
export const QR_RENDER_VERSION = "1";

const CONTENT_TYPES: Record<QrFormat, string> = {
  png: "image/png",
  svg: "image/svg+xml",
};

// Level M is what banks' own PIX QR codes use; 4 modules of quiet zone is what scanners expect.
const OPTIONS = { errorCorrectionLevel: "M", margin: 4 } as const;

export interface RenderedQr {
  body: Uint8Array<ArrayBuffer> | string;
  contentType: string;
}

/** Renders the QR code of a payload (exactly the bytes given) as PNG or SVG. */
export async function renderQr(payload: string, format: QrFormat): Promise<RenderedQr> {
  const body =
    format === "png"
      ? new Uint8Array(await QRCode.toBuffer(payload, { ...OPTIONS, type: "png", width: 480 }))
      : await QRCode.toString(payload, { ...OPTIONS, type: "svg" });
  return { body, contentType: CONTENT_TYPES[format] };
}

/** What the ETag of a QR image hashes: the payload, the format and the rendering version. */
export function qrIdentity(payload: string, format: QrFormat): string {
  return `qr:v${QR_RENDER_VERSION}:${format}:${payload}`;
}

/**
 * QR images rendered once per payload and format, and kept: a PNG costs ~17 ms of CPU to draw and a
 * payment's code never changes, so anyone with a payer link could otherwise keep a core busy (issue 10).
 * A bounded LRU (a Map in use order); concurrent requests for an image being drawn share that drawing.
 */
export function createQrCache(options: { maxEntries: number; render?: typeof renderQr }) {
  const render = options.render ?? renderQr;
  const entries = new Map<string, Promise<RenderedQr>>();
  return {
    get(payload: string, format: QrFormat): Promise<RenderedQr> {
      const key = qrIdentity(payload, format);
      let entry = entries.get(key);
      if (entry) {
        entries.delete(key); // to the newest end
      } else {
        entry = render(payload, format);
        // A failed drawing is not kept: the next request tries again.
        entry.catch(() => {
          if (entries.get(key) === entry) entries.delete(key);
        });
        if (entries.size >= options.maxEntries) entries.delete(entries.keys().next().value!);
      }
      entries.set(key, entry);
      return entry;
    },
    size: () => entries.size,
  };
}

export type QrCache = ReturnType<typeof createQrCache>;
