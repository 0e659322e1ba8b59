/**
 * What every payer-facing response shares: security headers, HTML escaping and ETag checks.
 */

/**
 * The page's policy: only our own script, stylesheet and images, and WebSockets back to us. `'self'` covers
 * same-origin ws:/wss: in current browsers; the explicit host keeps older Safari working without opening
 * connect-src to every WebSocket origin.
 */
export function contentSecurityPolicy(host: string | undefined): string {
  const safeHost = host && /^[A-Za-z0-9.\-[\]:]{1,255}$/.test(host) ? host : undefined;
  const connect = safeHost ? `'self' ws://${safeHost} wss://${safeHost}` : "'self'";
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    `connect-src ${connect}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/** Headers for every payer-facing response: the URL is a capability, so it must not leak or be framed. */
export function securityHeaders(csp: string): Record<string, string> {
  return {
    "content-security-policy": csp,
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
  };
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** A strong ETag from a SHA-256 of what identifies the bytes. */
export function strongEtag(identity: string): string {
  return `"${new Bun.CryptoHasher("sha256").update(identity).digest("base64url").slice(0, 32)}"`;
}

/** True when an If-None-Match header names this ETag (weak comparison, as RFC 9110 asks for GET). */
export function etagMatches(ifNoneMatch: string | null, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === "*") return true;
  const opaque = etag.replace(/^W\//, "");
  return ifNoneMatch.split(",").some((candidate) => candidate.trim().replace(/^W\//, "") === opaque);
}
