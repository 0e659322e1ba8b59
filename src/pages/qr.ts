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

/** Renders the QR code of a payload (exactly the bytes given) as PNG or SVG. */
export async function renderQr(
  payload: string,
  format: QrFormat,
): Promise<{ body: Uint8Array<ArrayBuffer> | string; contentType: string }> {
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
