import { readFileSync } from "node:fs";
import { join } from "node:path";

/** A static file of the checkout page, read once at start-up. */
export interface Asset {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
  etag: string;
  /** Short content hash; links carry it as `?v=` so a new deploy is fetched despite long caching. */
  version: string;
}

const FILES = {
  "checkout.js": "text/javascript; charset=utf-8",
  "checkout.css": "text/css; charset=utf-8",
  "icon.svg": "image/svg+xml",
} as const;

export type AssetName = keyof typeof FILES;

function load(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [name, contentType] of Object.entries(FILES)) {
    const body = new Uint8Array(readFileSync(join(import.meta.dir, "assets", name)));
    const hash = new Bun.CryptoHasher("sha256").update(body).digest("hex");
    assets.set(name, { body, contentType, etag: `"${hash.slice(0, 32)}"`, version: hash.slice(0, 12) });
  }
  return assets;
}

const ASSETS = load();

/** The asset served at /pay/assets/{name}, if there is one. */
export function findAsset(name: string): Asset | undefined {
  return ASSETS.get(name);
}

/** The versioned path of an asset, for links in the page. */
export function assetPath(name: AssetName): string {
  const asset = ASSETS.get(name);
  if (!asset) throw new Error(`unknown asset ${name}`);
  return `/pay/assets/${name}?v=${asset.version}`;
}
