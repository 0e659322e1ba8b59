import { describe, expect, test } from "bun:test";
import { Webhook } from "standardwebhooks";
import {
  createWebhookVerifier,
  secretKey,
  sign,
  signatureHeaders,
  WebhookVerificationError,
} from "../src/webhooks/standard-webhooks.ts";
import { TEST_WEBHOOK_SECRET } from "./harness.ts";

const OTHER_SECRET = `whsec_${Buffer.from("another-secret-of-32-bytes-long!").toString("base64")}`;
const body = JSON.stringify({ bank_payment_id: "ca2910ae-c4e8-44d3-b510-e573e9be9a58", value: 254.3 });
const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
const seconds = Math.floor(NOW / 1000);

describe("Standard Webhooks, our node:crypto module against the standardwebhooks package", () => {
  test("what the package signs, we verify; what we sign, the package verifies", () => {
    const id = "msg_2b0c4a";
    const theirs = new Webhook(TEST_WEBHOOK_SECRET).sign(id, new Date(NOW), body);
    const ours = sign(secretKey(TEST_WEBHOOK_SECRET), id, seconds, body);
    expect(ours).toBe(theirs);
    const verify = createWebhookVerifier(TEST_WEBHOOK_SECRET, { now: () => NOW });
    expect(
      verify(body, { "webhook-id": id, "webhook-timestamp": String(seconds), "webhook-signature": theirs }),
    ).toEqual({ id, timestampSeconds: seconds });
    // The package checks against the wall clock, so sign at the wall clock for it.
    const wallSeconds = Math.floor(Date.now() / 1000);
    const headers = signatureHeaders([secretKey(TEST_WEBHOOK_SECRET)], id, wallSeconds, body);
    expect(() => new Webhook(TEST_WEBHOOK_SECRET).verify(body, headers)).not.toThrow();
  });

  test("during a rotation both signatures are sent; a receiver holding either secret verifies", () => {
    const keys = [secretKey(TEST_WEBHOOK_SECRET), secretKey(OTHER_SECRET)];
    const wallSeconds = Math.floor(Date.now() / 1000);
    const headers = signatureHeaders(keys, "msg_rot", wallSeconds, body);
    expect(headers["webhook-signature"].split(" ")).toHaveLength(2);
    for (const secret of [TEST_WEBHOOK_SECRET, OTHER_SECRET]) {
      expect(() => new Webhook(secret).verify(body, headers)).not.toThrow();
      expect(createWebhookVerifier(secret)(body, headers).id).toBe("msg_rot");
    }
  });

  test("refused: another body, another secret, a stale or future timestamp, a malformed one, a missing header", () => {
    const verify = createWebhookVerifier(TEST_WEBHOOK_SECRET, { now: () => NOW });
    const id = "msg_x";
    const at = (s: number, payload = body, secret = TEST_WEBHOOK_SECRET) => ({
      "webhook-id": id,
      "webhook-timestamp": String(s),
      "webhook-signature": sign(secretKey(secret), id, s, payload),
    });
    const refused = (payload: string, headers: Record<string, string | null>) => {
      expect(() => verify(payload, headers)).toThrow(WebhookVerificationError);
    };
    refused(`${body} `, at(seconds));
    refused(body, at(seconds, body, OTHER_SECRET));
    refused(body, at(seconds - 301));
    refused(body, at(seconds + 301));
    expect(verify(body, at(seconds - 300)).id).toBe(id); // the edge of the tolerance still passes
    for (const timestamp of [`${seconds}.999`, `${seconds}junk`, ` ${seconds}`, "-1", ""]) {
      refused(body, { ...at(seconds), "webhook-timestamp": timestamp });
    }
    refused(body, { ...at(seconds), "webhook-id": null });
    refused(body, { ...at(seconds), "webhook-signature": `v2,${at(seconds)["webhook-signature"].slice(3)}` });
    refused(body, { ...at(seconds), "webhook-signature": "v1," });
  });
});
