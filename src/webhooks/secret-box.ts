import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from "node:crypto";

/**
 * Seals merchant-webhook signing secrets for storage (AES-256-GCM), so that a read of the database alone — a
 * backup, a replica, a leaked dump — does not hand out the secrets that sign deliveries. The key comes from
 * WEBHOOK_ENCRYPTION_KEY, or is derived from WEBHOOK_SECRET (HKDF) when that is unset; it never reaches the
 * database. The secrets cannot be hashed instead: signing needs them in the clear. Each sealed value is bound
 * to its endpoint id (additional authenticated data), so one row's secret cannot be swapped into another.
 */
export interface SecretBox {
  seal(plain: string, boundTo: string): string;
  /** Throws when the value was sealed with another key, or for another endpoint, or was altered. */
  open(sealed: string, boundTo: string): string;
}

const VERSION = "v1";

/** A 32-byte key from a configured value: base64 or hex of 32 bytes, or else any text run through HKDF. */
export function secretBoxKey(material: string, label = "merchant-webhook-secrets"): Buffer {
  for (const decoded of [Buffer.from(material, "base64"), Buffer.from(material, "hex")]) {
    if (decoded.length === 32 && (decoded.toString("base64") === material || decoded.toString("hex") === material)) {
      return decoded;
    }
  }
  return Buffer.from(hkdfSync("sha256", Buffer.from(material), Buffer.alloc(0), Buffer.from(label), 32));
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error("The secret box needs a 32-byte key");
  /** A short fingerprint of the key in every sealed value: a key change is told apart from tampering. */
  const keyId = createHash("sha256").update(key).digest("base64url").slice(0, 8);
  return {
    seal(plain, boundTo) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      cipher.setAAD(Buffer.from(boundTo));
      const body = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
      const tag = cipher.getAuthTag();
      return [VERSION, keyId, iv.toString("base64url"), body.toString("base64url"), tag.toString("base64url")].join(
        ".",
      );
    },
    open(sealed, boundTo) {
      const [version, sealedKeyId, iv, body, tag] = sealed.split(".");
      if (version !== VERSION || !iv || !body || !tag) throw new Error("Not a sealed secret");
      if (sealedKeyId !== keyId) {
        throw new Error("The secret was sealed with another key (WEBHOOK_ENCRYPTION_KEY or WEBHOOK_SECRET changed)");
      }
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
      decipher.setAAD(Buffer.from(boundTo));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
    },
  };
}
