/**
 * GET /docs: a human-readable reference of /openapi.json, drawn in the browser by Swagger UI
 * (swagger-ui-dist), whose files this service serves itself from node_modules under /docs/assets/.
 * Swagger UI runs under a policy with no 'unsafe-inline' and no 'unsafe-eval'; Scalar and Redoc inject
 * <style> elements and style attributes that such a policy blocks (README, "Dependencies").
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { MESSAGES } from "../messages.ts";
import { escapeHtml, etagMatches, securityHeaders } from "../pages/page-headers.ts";
import { json } from "./json.ts";

/** A static file of the reference page, read once at start-up. */
interface DocsAsset {
  body: Uint8Array<ArrayBuffer>;
  contentType: string;
  etag: string;
  /** Short content hash; links carry it as `?v=` so a new version is fetched despite long caching. */
  version: string;
}

const JS = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

const fromSwaggerUi = (file: string) => fileURLToPath(import.meta.resolve(`swagger-ui-dist/${file}`));
const ours = (file: string) => join(import.meta.dir, "docs-assets", file);

/** Served name → where the bytes come from and their type. */
const FILES: Record<string, { path: string; contentType: string }> = {
  "swagger-ui-bundle.js": { path: fromSwaggerUi("swagger-ui-bundle.js"), contentType: JS },
  "swagger-ui.css": { path: fromSwaggerUi("swagger-ui.css"), contentType: CSS },
  "favicon-32x32.png": { path: fromSwaggerUi("favicon-32x32.png"), contentType: "image/png" },
  "docs.js": { path: ours("docs.js"), contentType: JS },
  "docs.css": { path: ours("docs.css"), contentType: CSS },
};

function loadAssets(): Map<string, DocsAsset> {
  const assets = new Map<string, DocsAsset>();
  for (const [name, { path, contentType }] of Object.entries(FILES)) {
    const body = new Uint8Array(readFileSync(path));
    const hash = new Bun.CryptoHasher("sha256").update(body).digest("hex");
    assets.set(name, { body, contentType, etag: `"${hash.slice(0, 32)}"`, version: hash.slice(0, 12) });
  }
  return assets;
}

const ASSETS = loadAssets();
const ASSET_PATH = /^\/docs\/assets\/([\w.-]{1,64})$/;
const IMMUTABLE = "public, max-age=31536000, immutable";
const ALLOW = "GET, HEAD";

function assetUrl(name: string): string {
  return `/docs/assets/${name}?v=${ASSETS.get(name)!.version}`;
}

/**
 * The page's policy: our own scripts and stylesheets only; swagger-ui.css draws its icons as data: SVG
 * images. "Try it out" calls the document's server (PUBLIC_URL): same-origin when the page is opened there,
 * and the API sends no CORS headers, so allowing another origin here would not make it work anyway.
 */
export const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function renderPage(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="${assetUrl("favicon-32x32.png")}" type="image/png">
<link rel="stylesheet" href="${assetUrl("swagger-ui.css")}">
<link rel="stylesheet" href="${assetUrl("docs.css")}">
</head>
<body>
<noscript><p class="docs-noscript">This reference needs JavaScript. The OpenAPI document itself is at
<a href="/openapi.json">/openapi.json</a>.</p></noscript>
<div id="swagger-ui" data-openapi-url="/openapi.json"></div>
<script src="${assetUrl("swagger-ui-bundle.js")}"></script>
<script src="${assetUrl("docs.js")}"></script>
</body>
</html>
`;
}

export interface DocsPageOptions {
  /** The page's <title>. */
  title?: string;
}

type Routed = { route: string; response: Response };

export type DocsPage = ReturnType<typeof createDocsPage>;

/** The /docs surface: the reference page and its static files; other paths are not its business. */
export function createDocsPage(options: DocsPageOptions = {}) {
  const page = renderPage(options.title ?? "PIX Payment API reference");

  return {
    /** Answers /docs and /docs/*; null for every other path. */
    handle(req: Request, url: URL): Routed | null {
      const path = url.pathname;
      if (path !== "/docs" && !path.startsWith("/docs/")) return null;

      const assetName = ASSET_PATH.exec(path)?.[1];
      const asset = assetName === undefined ? undefined : ASSETS.get(assetName);
      const route = path === "/docs" ? "/docs" : "/docs/assets/:file";
      if (path !== "/docs" && !asset) {
        return { route: assetName ? route : "unmatched", response: json(404, { message: MESSAGES.notFound }) };
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        return { route, response: json(405, { message: MESSAGES.methodNotAllowed }, { allow: ALLOW }) };
      }

      const headers = securityHeaders(DOCS_CONTENT_SECURITY_POLICY);
      if (!asset) {
        return {
          route,
          response: new Response(page, {
            headers: { ...headers, "content-type": "text/html; charset=utf-8", "cache-control": "no-store" },
          }),
        };
      }
      const assetHeaders: Record<string, string> = {
        ...headers,
        "content-type": asset.contentType,
        etag: asset.etag,
        // Links carry ?v=<hash>, so a versioned URL's bytes never change; an unversioned one revalidates.
        "cache-control": url.searchParams.get("v") === asset.version ? IMMUTABLE : "public, max-age=0, must-revalidate",
      };
      if (etagMatches(req.headers.get("if-none-match"), asset.etag)) {
        return { route, response: new Response(null, { status: 304, headers: assetHeaders }) };
      }
      return { route, response: new Response(asset.body, { headers: assetHeaders }) };
    },
  };
}
