/** Endpoint secrets at rest (src/webhooks/secret-box.ts): sealed, bound to their endpoint, refused when altered. */
import { describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { createSecretBox, secretBoxKey } from "../src/webhooks/secret-box.ts";

describe("the secret box", () => {
  const key = randomBytes(32);
  const box = createSecretBox(key);
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

  test("a sealed secret opens for its endpoint only, and does not contain the secret", () => {
    const sealed = box.seal(secret, "we_a");
    expect(sealed).toStartWith("v1.");
    expect(sealed).not.toContain("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    expect(box.seal(secret, "we_a")).not.toBe(sealed); // a fresh IV each time
    expect(box.open(sealed, "we_a")).toBe(secret);
    expect(() => box.open(sealed, "we_b")).toThrow();
  });

  test("an altered value, or another key, is refused; another key says so", () => {
    const sealed = box.seal(secret, "we_a");
    const parts = sealed.split(".");
    const body = Buffer.from(parts[3]!, "base64url");
    body[0]! ^= 1;
    parts[3] = body.toString("base64url");
    expect(() => box.open(parts.join("."), "we_a")).toThrow();
    expect(() => createSecretBox(randomBytes(32)).open(sealed, "we_a")).toThrow(
      "The secret was sealed with another key",
    );
    expect(() => box.open("plain-text", "we_a")).toThrow("Not a sealed secret");
  });

  test("keys: 32 bytes in base64 or hex are used as they are; any other text goes through HKDF", () => {
    expect(secretBoxKey(key.toString("base64")).equals(key)).toBe(true);
    expect(secretBoxKey(key.toString("hex")).equals(key)).toBe(true);
    const derived = secretBoxKey("whsec_c29tZS13ZWJob29rLXNlY3JldA==");
    expect(derived.length).toBe(32);
    expect(secretBoxKey("whsec_c29tZS13ZWJob29rLXNlY3JldA==").equals(derived)).toBe(true);
    expect(secretBoxKey("whsec_b3RoZXI=").equals(derived)).toBe(false);
  });
});
