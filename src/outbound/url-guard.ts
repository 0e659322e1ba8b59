/**
 * Which merchant webhook URLs the service may send to (CONTRACT §10): `http(s)` only (`https` only where required),
 * and, unless private addresses are allowed, no URL whose host is or resolves to a loopback, private, link-local,
 * CGNAT, multicast, broadcast or reserved address, including IPv6 forms that embed such an IPv4 address. It runs
 * when an endpoint is registered and again right before each delivery, because a name's addresses can change
 * between the two (DNS rebinding). A short window remains between this look-up and the one fetch makes itself.
 */
import { lookup as dnsLookup } from "node:dns/promises";
import ipaddr from "ipaddr.js";

/** The longest URL accepted. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;

/** How long a name's look-up may take before the URL is refused. */
const LOOKUP_TIMEOUT_MS = 5_000;

export interface UrlGuardOptions {
  /** Let URLs reach loopback, private and link-local addresses (development, tests). */
  allowPrivate: boolean;
  /** Refuse `http:` URLs. */
  requireHttps: boolean;
  /** A host name's addresses; default: node:dns/promises `lookup(host, { all: true, verbatim: true })`. */
  lookup?: (host: string) => Promise<string[]>;
}

/** What the guard found for one URL: the reason it is refused (null = allowed) and the addresses it resolved to. */
export interface UrlInspection {
  reason: string | null;
  /** The host's addresses as looked up (the literal itself for an IP host); empty when not resolved. */
  addresses: string[];
}

export interface UrlGuard {
  /** Why the URL's form is refused, or null: parses, `http(s)`, no credentials, a host, at most 2048 characters. */
  checkSyntax(url: string): string | null;
  /** Why the URL is refused, or null: its form, then (unless private addresses are allowed) every address of its host. */
  check(url: string): Promise<string | null>;
  /** `check`, also returning the addresses the host resolved to, for the caller to log. */
  inspect(url: string): Promise<UrlInspection>;
}

/** Names that never belong to a merchant's public server (RFC 6761, RFC 6762, RFC 8375, ICANN's .internal). */
const LOCAL_NAME = /(^|\.)(localhost|local|internal|home\.arpa)$/;

export async function systemLookup(host: string): Promise<string[]> {
  const found = await dnsLookup(host, { all: true, verbatim: true });
  return found.map((entry) => entry.address);
}

/** Why an address is not public: the kind of range, and the IPv4 address an IPv6 form carries, if any. */
interface Refusal {
  what: string;
  embeds?: string;
}

/**
 * Why connecting to this IP address is refused ("10.0.0.1 is a private address"), or null for a public unicast
 * address. IPv6 addresses that carry an IPv4 address (IPv4-mapped, SIIT, NAT64 64:ff9b::/96, 6to4) are judged by
 * that IPv4 address.
 */
export function addressRefusal(address: string): string | null {
  const refusal = classify(address);
  if (refusal === null) return null;
  return `${address} is ${refusal.what}${refusal.embeds ? ` (it embeds ${refusal.embeds})` : ""}`;
}

function classify(address: string): Refusal | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return { what: "not an IP address" };
  }
  return parsed.kind() === "ipv4" ? ipv4Refusal(parsed as ipaddr.IPv4) : ipv6Refusal(parsed as ipaddr.IPv6);
}

const IPV4_NAMES: Record<string, string> = {
  unspecified: "an unspecified address",
  broadcast: "a broadcast address",
  multicast: "a multicast address",
  linkLocal: "a link-local address",
  loopback: "a loopback address",
  carrierGradeNat: "a carrier-grade NAT address",
  private: "a private address",
};

function ipv4Refusal(address: ipaddr.IPv4): Refusal | null {
  const range = address.range();
  if (range === "unicast") return null;
  return { what: IPV4_NAMES[range] ?? "a reserved address" };
}

const IPV6_NAMES: Record<string, string> = {
  unspecified: "an unspecified address",
  linkLocal: "a link-local address",
  multicast: "a multicast address",
  loopback: "a loopback address",
  uniqueLocal: "a private address",
  deprecatedSiteLocal: "a private address",
};

/** IANA's global unicast block: every other IPv6 range not handled below is special or unassigned. */
const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR("2000::/3");
/** The NAT64 well-known prefix (RFC 6052); 64:ff9b:1::/48 is for local use and stays refused. */
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR("64:ff9b::/96");
/** Deprecated IPv4-compatible addresses (::a.b.c.d, RFC 4291 §2.5.5.1), never routed. */
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR("::/96");

function ipv6Refusal(address: ipaddr.IPv6): Refusal | null {
  const range = address.range();
  const p = address.parts;
  const v4 = (high: number, low: number) => new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
  if (range === "ipv4Mapped" || range === "rfc6145" || address.match(NAT64_WELL_KNOWN))
    return embedded(v4(p[6]!, p[7]!));
  if (range === "6to4") return embedded(v4(p[1]!, p[2]!));
  const name = IPV6_NAMES[range];
  if (name) return { what: name };
  if (address.match(IPV4_COMPATIBLE)) return { what: "an IPv4-compatible address" };
  if (range === "unicast" && address.match(GLOBAL_UNICAST)) return null;
  return { what: "a reserved address" };
}

function embedded(v4: ipaddr.IPv4): Refusal | null {
  const refusal = ipv4Refusal(v4);
  return refusal === null ? null : { what: refusal.what, embeds: v4.toString() };
}

/** The host of a parsed URL as an IP literal (IPv6 without brackets), or null for a name. */
function ipLiteral(hostname: string): string | null {
  if (hostname.startsWith("[") && hostname.endsWith("]")) return hostname.slice(1, -1);
  // The URL parser has already turned every IPv4 form (0x7f.1, 2130706433, 0177.0.0.1) into four decimals.
  return ipaddr.IPv4.isValidFourPartDecimal(hostname) ? hostname : null;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("lookup timed out")), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function createUrlGuard(options: UrlGuardOptions): UrlGuard {
  const lookup = options.lookup ?? systemLookup;

  function parse(url: string): { url: URL; reason: null } | { url: null; reason: string } {
    if (typeof url !== "string" || url.length === 0) return { url: null, reason: "URL is empty" };
    if (url.length > MAX_WEBHOOK_URL_LENGTH)
      return { url: null, reason: `URL is longer than ${MAX_WEBHOOK_URL_LENGTH} characters` };
    const parsed = URL.parse(url);
    if (parsed === null) return { url: null, reason: "not a URL" };
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:")
      return { url: null, reason: "URL must be http or https" };
    if (options.requireHttps && parsed.protocol !== "https:") return { url: null, reason: "URL must be https" };
    if (parsed.username !== "" || parsed.password !== "")
      return { url: null, reason: "URL must not contain a user name or password" };
    if (parsed.hostname === "") return { url: null, reason: "URL has no host" };
    return { url: parsed, reason: null };
  }

  async function inspect(url: string): Promise<UrlInspection> {
    const parsed = parse(url);
    if (parsed.url === null) return { reason: parsed.reason, addresses: [] };
    if (options.allowPrivate) return { reason: null, addresses: [] };

    const hostname = parsed.url.hostname.toLowerCase().replace(/\.$/, "");
    const literal = ipLiteral(hostname);
    let addresses: string[];
    if (literal !== null) {
      addresses = [literal];
    } else {
      if (LOCAL_NAME.test(hostname)) return { reason: `${hostname} is a local name`, addresses: [] };
      try {
        addresses = await withTimeout(lookup(hostname), LOOKUP_TIMEOUT_MS);
      } catch {
        addresses = [];
      }
      if (!Array.isArray(addresses) || addresses.length === 0)
        return { reason: `${hostname} does not resolve`, addresses: [] };
    }
    for (const address of addresses) {
      const refusal = classify(address);
      if (refusal === null) continue;
      const reason =
        literal !== null
          ? addressRefusal(address)!
          : `${hostname} resolves to ${refusal.what} (${address}${refusal.embeds ? `, embedding ${refusal.embeds}` : ""})`;
      return { reason, addresses };
    }
    return { reason: null, addresses };
  }

  return {
    checkSyntax: (url) => parse(url).reason,
    check: async (url) => (await inspect(url)).reason,
    inspect,
  };
}
