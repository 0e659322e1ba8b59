/**
 * Plays the bank: signs a PIX confirmation with the Standard Webhooks scheme and sends it.
 *   npm run bank:confirm -- <bank_payment_id> <value>
 * PAYMENTS_URL (default http://localhost:$PORT, PORT default 3000) and WEBHOOK_SECRET (default: the
 * development secret kept in ./data/) say where and with what.
 */
import { Webhook } from "standardwebhooks";
import { DEV_SECRETS_FILE, loadDevSecrets } from "../src/config.ts";

const [bankPaymentId, valueText] = process.argv.slice(2);
if (!bankPaymentId || !valueText || Number.isNaN(Number(valueText))) {
  console.error("usage: npm run bank:confirm -- <bank_payment_id> <value>   (e.g. ... 3f0c… 254.30)");
  process.exit(2);
}
const secret = process.env.WEBHOOK_SECRET || loadDevSecrets().webhook_secret;
if (!secret) {
  console.error(`No WEBHOOK_SECRET set and no ${DEV_SECRETS_FILE}: start the server once, or set WEBHOOK_SECRET.`);
  process.exit(2);
}
const base = (process.env.PAYMENTS_URL || `http://localhost:${process.env.PORT || 3000}`).replace(/\/+$/, "");
const url = `${base}/payments/pix/confirmation`;
console.error(`POST ${url}   (PAYMENTS_URL or PORT choose where)`);

// The value goes out as written (254.30 stays a JSON number), exactly as a bank would send it.
const body = `{"bank_payment_id":${JSON.stringify(bankPaymentId)},"value":${valueText}}`;
const id = `msg_${crypto.randomUUID()}`;
const signature = new Webhook(secret).sign(id, new Date(), body);
const response = await fetch(url, {
  method: "POST",
  headers: {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
    "webhook-signature": signature,
  },
  body,
  signal: AbortSignal.timeout(10_000),
}).catch((err: Error) => {
  console.error(
    `Nothing answers at ${base} (${err.message}). Start the service there (npm start), ` +
      "or set PAYMENTS_URL (or PORT) to where it runs.",
  );
  process.exit(1);
});
console.log(`${response.status} ${await response.text()}`);
process.exit(response.ok ? 0 : 1);
