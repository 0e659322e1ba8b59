/**
 * The merchant-webhook URL guard (CONTRACT §10): which URLs may be registered and delivered to. Names resolve
 * through an injected lookup, so nothing here asks a DNS server; the public address is only resolved, never contacted.
 */
import { describe, expect, test } from "bun:test";
import { addressRefusal, createUrlGuard, systemLookup } from "../src/outbound/url-guard.ts";

const PUBLIC_V4 = "93.184.215.14";
const PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c";

/** A DNS of our own: names to addresses; any other name does not resolve. */
function fakeDns(table: Record<string, string[]>) {
  const asked: string[] = [];
  const lookup = async (host: string) => {
    asked.push(host);
    const found = table[host];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return found;
  };
  return { lookup, asked };
}

const dns = fakeDns({
  "hooks.shop.example": [PUBLIC_V4],
  "v6.shop.example": [PUBLIC_V6],
  "both.shop.example": [PUBLIC_V6, PUBLIC_V4],
  "intranet.shop.example": ["10.1.2.3"],
  "sneaky.shop.example": [PUBLIC_V4, "127.0.0.1"],
  "metadata.shop.example": ["169.254.169.254"],
  "mapped.shop.example": ["::ffff:192.168.0.10"],
  "empty.shop.example": [],
});
const production = createUrlGuard({ allowPrivate: false, requireHttps: true, lookup: dns.lookup });

describe("checkSyntax", () => {
  const guard = createUrlGuard({ allowPrivate: false, requireHttps: false, lookup: dns.lookup });

  test("http and https URLs with a host pass; https only when required", () => {
    expect(guard.checkSyntax("https://hooks.shop.example/pix?x=1")).toBeNull();
    expect(guard.checkSyntax("http://hooks.shop.example:8080/pix")).toBeNull();
    expect(production.checkSyntax("https://hooks.shop.example/pix")).toBeNull();
    expect(production.checkSyntax("http://hooks.shop.example/pix")).toBe("URL must be https");
  });

  test("refuses what is not a URL, other schemes, credentials, no host and over 2048 characters", () => {
    for (const url of ["", "hooks.shop.example/pix", "https://", "https://exa mple.com/", "//hooks.shop.example/"])
      expect(guard.checkSyntax(url)).not.toBeNull();
    for (const url of ["ftp://hooks.shop.example/", "file:///etc/passwd", "javascript:alert(1)", "ws://a.example/"])
      expect(guard.checkSyntax(url)).toBe("URL must be http or https");
    expect(guard.checkSyntax("https://user:pass@hooks.shop.example/")).toContain("user name or password");
    expect(guard.checkSyntax("https://user@hooks.shop.example/")).toContain("user name or password");
    const long = `https://hooks.shop.example/${"a".repeat(2048)}`;
    expect(guard.checkSyntax(long)).toContain("longer than 2048");
    expect(guard.checkSyntax(long.slice(0, 2048))).toBeNull();
  });
});

describe("check refuses hosts that are not public", () => {
  test("http:// when https is required, before any lookup", async () => {
    const before = dns.asked.length;
    expect(await production.check("http://hooks.shop.example/")).toBe("URL must be https");
    expect(dns.asked.length).toBe(before);
  });

  test("loopback: 127.0.0.1, other 127/8 forms, localhost, [::1], [::ffff:127.0.0.1]", async () => {
    for (const url of [
      "https://127.0.0.1/",
      "https://127.0.0.1:8443/hook",
      "https://127.8.9.10/",
      "https://0x7f.1/", // the URL parser's other spellings of 127.0.0.1
      "https://2130706433/",
      "https://0177.0.0.1/",
      "https://[::1]/",
      "https://[0:0:0:0:0:0:0:1]/",
      "https://[::ffff:127.0.0.1]/",
      "https://[::ffff:7f00:1]/",
    ])
      expect(await production.check(url)).toContain("loopback");
    for (const url of ["https://localhost/", "https://LOCALHOST./", "https://api.localhost/", "https://db.internal/"])
      expect(await production.check(url)).toContain("local name");
  });

  test("private: 10/8, 172.16/12, 192.168/16, fc00::/7, and IPv6 forms embedding them", async () => {
    for (const url of [
      "https://10.0.0.1/",
      "https://10.255.255.255/",
      "https://172.16.0.1/",
      "https://172.31.255.254/",
      "https://192.168.1.1/",
      "https://[fc00::1]/",
      "https://[fd12:3456:789a::1]/",
      "https://[::ffff:10.0.0.1]/",
      "https://[64:ff9b::192.168.0.1]/", // NAT64
      "https://[2002:c0a8:101::1]/", // 6to4 of 192.168.1.1
    ])
      expect(await production.check(url)).toContain("private");
    expect(await production.check("https://172.32.0.1/")).toBeNull(); // just outside 172.16/12, public
  });

  test("link-local, the cloud metadata address, CGNAT, unspecified, broadcast, multicast, reserved", async () => {
    expect(await production.check("https://169.254.169.254/latest/meta-data/")).toContain("link-local");
    expect(await production.check("https://169.254.1.1/")).toContain("link-local");
    expect(await production.check("https://[fe80::1]/")).toContain("link-local");
    expect(await production.check("https://[::ffff:169.254.169.254]/")).toContain("link-local");
    expect(await production.check("https://100.64.0.1/")).toContain("carrier-grade NAT");
    expect(await production.check("https://100.127.255.254/")).toContain("carrier-grade NAT");
    expect(await production.check("https://0.0.0.0/")).toContain("unspecified");
    expect(await production.check("https://[::]/")).toContain("unspecified");
    expect(await production.check("https://255.255.255.255/")).toContain("broadcast");
    expect(await production.check("https://224.0.0.1/")).toContain("multicast");
    expect(await production.check("https://[ff02::1]/")).toContain("multicast");
    for (const url of ["https://192.0.2.1/", "https://240.0.0.1/", "https://[2001:db8::1]/", "https://[::7f00:1]/"])
      expect(await production.check(url)).not.toBeNull();
  });

  test("a name that resolves to a private, loopback or link-local address, even one of several", async () => {
    expect(await production.check("https://intranet.shop.example/")).toBe(
      "intranet.shop.example resolves to a private address (10.1.2.3)",
    );
    expect(await production.check("https://sneaky.shop.example/")).toBe(
      "sneaky.shop.example resolves to a loopback address (127.0.0.1)",
    );
    expect(await production.check("https://metadata.shop.example/")).toContain("link-local");
    expect(await production.check("https://mapped.shop.example/")).toBe(
      "mapped.shop.example resolves to a private address (::ffff:192.168.0.10, embedding 192.168.0.10)",
    );
  });

  test("a name that does not resolve, or resolves to nothing", async () => {
    expect(await production.check("https://nowhere.shop.example/")).toBe("nowhere.shop.example does not resolve");
    expect(await production.check("https://empty.shop.example/")).toBe("empty.shop.example does not resolve");
  });
});

describe("check lets public hosts through", () => {
  test("names resolving only to public addresses, and public IP literals", async () => {
    for (const url of [
      "https://hooks.shop.example/pix",
      "https://HOOKS.shop.example./pix",
      "https://v6.shop.example/",
      "https://both.shop.example/",
      `https://${PUBLIC_V4}/`,
      `https://[${PUBLIC_V6}]/`,
      `https://[::ffff:${PUBLIC_V4}]/`,
      `https://[64:ff9b::${PUBLIC_V4}]/`,
    ])
      expect(await production.check(url)).toBeNull();
    expect(dns.asked).toContain("hooks.shop.example"); // lower-cased, without the trailing dot
  });

  test("inspect returns the addresses the host resolved to, for the caller's log", async () => {
    expect(await production.inspect("https://both.shop.example/")).toEqual({
      reason: null,
      addresses: [PUBLIC_V6, PUBLIC_V4],
    });
    expect(await production.inspect("https://sneaky.shop.example/")).toEqual({
      reason: "sneaky.shop.example resolves to a loopback address (127.0.0.1)",
      addresses: [PUBLIC_V4, "127.0.0.1"],
    });
    expect(await production.inspect(`https://${PUBLIC_V4}/`)).toEqual({ reason: null, addresses: [PUBLIC_V4] });
  });

  test("every check resolves again, so a name rebound to a private address is refused at delivery", async () => {
    let answer = PUBLIC_V4;
    const guard = createUrlGuard({ allowPrivate: false, requireHttps: true, lookup: async () => [answer] });
    expect(await guard.check("https://rebind.shop.example/")).toBeNull();
    answer = "127.0.0.1";
    expect(await guard.check("https://rebind.shop.example/")).toContain("loopback");
  });
});

describe("allowPrivate", () => {
  const dev = createUrlGuard({ allowPrivate: true, requireHttps: false, lookup: dns.lookup });

  test("lets loopback, private and link-local hosts through, without resolving", async () => {
    const before = dns.asked.length;
    for (const url of [
      "http://127.0.0.1:3000/hook",
      "http://localhost:3000/hook",
      "http://[::1]:3000/",
      "http://10.0.0.1/",
      "http://192.168.1.1/",
      "http://172.16.0.1/",
      "http://169.254.169.254/",
      "http://100.64.0.1/",
      "http://intranet.shop.example/",
      "http://nowhere.shop.example/",
    ])
      expect(await dev.check(url)).toBeNull();
    expect(dns.asked.length).toBe(before);
  });

  test("still checks the syntax, and https when required", async () => {
    expect(await dev.check("ftp://127.0.0.1/")).toBe("URL must be http or https");
    expect(await dev.check("http://u:p@127.0.0.1/")).toContain("user name or password");
    const devHttps = createUrlGuard({ allowPrivate: true, requireHttps: true });
    expect(await devHttps.check("http://127.0.0.1/")).toBe("URL must be https");
    expect(await devHttps.check("https://127.0.0.1/")).toBeNull();
  });
});

describe("addressRefusal and the default lookup", () => {
  test("classifies single addresses, with a reason naming the range", () => {
    expect(addressRefusal(PUBLIC_V4)).toBeNull();
    expect(addressRefusal(PUBLIC_V6)).toBeNull();
    expect(addressRefusal("127.0.0.1")).toBe("127.0.0.1 is a loopback address");
    expect(addressRefusal("::ffff:127.0.0.1")).toBe("::ffff:127.0.0.1 is a loopback address (it embeds 127.0.0.1)");
    expect(addressRefusal("fe80::1%eth0")).toContain("link-local");
    expect(addressRefusal("not-an-ip")).toBe("not-an-ip is not an IP address");
  });

  test("the default lookup is the system resolver (localhost from the hosts file, no DNS server asked)", async () => {
    const addresses = await systemLookup("localhost");
    expect(addresses.length).toBeGreaterThan(0);
    for (const address of addresses) expect(addressRefusal(address)).toContain("loopback");
  });
});
