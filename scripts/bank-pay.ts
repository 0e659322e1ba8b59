/**
 * Plays a PSP paying a charge: sends the Banco Central's API Pix callback, `{"pix": [...]}`, with a fresh
 * endToEndId and the payment's txid (the BR Code's field 62/05), signed with Standard Webhooks.
 *   npm run bank:pay -- <bank_payment_id> <value>
 * PAYMENTS_URL (default http://localhost:$PORT, PORT default 3000) and WEBHOOK_SECRET (default: the development
 * secret kept in ./data/) say where and with what; with PSP_WEBHOOK_TOKEN and no secret it sends `?token=`.
 * When PSP_API_URL is set (a service behind `npm run bank:psp`), the Pix is first registered with that PSP
 * simulator (its POST /simulator/pix), so the service's confirming GET /pix/{e2eid} finds it.
 */
import { DEV_SECRETS_FILE, loadDevSecrets } from "../src/config.ts";
import { formatPixAmount } from "../src/pix/amount.ts";
import type { Pix } from "../src/pix/api-pix.ts";
import { txidFromUuid } from "../src/pix/brcode.ts";
import { secretKey, signatureHeaders } from "../src/webhooks/standard-webhooks.ts";

/** A fresh endToEndId: E, the payer PSP's ISPB (8 digits), yyyyMMddHHmm (UTC), 11 letters and digits. */
export function newEndToEndId(at = new Date(), ispb = "99999999"): string {
  const stamp = at.toISOString().replace(/[-:T]/g, "").slice(0, 12);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const random = Array.from(crypto.getRandomValues(new Uint8Array(11)), (b) => alphabet[b % alphabet.length]).join("");
  return `E${ispb}${stamp}${random}`;
}

if (import.meta.main) {
  const [bankPaymentId, valueText] = process.argv.slice(2);
  const amount = /^(\d{1,10})(?:[.,](\d{1,2}))?$/.exec(valueText ?? "");
  if (!bankPaymentId || !amount) {
    console.error("usage: npm run bank:pay -- <bank_payment_id> <value>   (e.g. ... 3f0c… 254.30)");
    process.exit(2);
  }
  const secret = process.env.WEBHOOK_SECRET || loadDevSecrets().webhook_secret;
  const token = process.env.PSP_WEBHOOK_TOKEN;
  if (!secret && !token) {
    console.error(`No WEBHOOK_SECRET set and no ${DEV_SECRETS_FILE}: start the server once, or set WEBHOOK_SECRET.`);
    process.exit(2);
  }
  const cents = Number(amount[1]) * 100 + Number((amount[2] ?? "").padEnd(2, "0"));
  const base = (process.env.PAYMENTS_URL || `http://localhost:${process.env.PORT || 3000}`).replace(/\/+$/, "");
  const now = new Date();
  const pix: Pix = {
    endToEndId: newEndToEndId(now),
    txid: txidFromUuid(bankPaymentId),
    valor: formatPixAmount(cents),
    horario: now.toISOString(),
    infoPagador: "Pagamento simulado (npm run bank:pay)",
  };

  const psp = process.env.PSP_API_URL?.replace(/\/+$/, "");
  if (psp) {
    const registered = await fetch(`${psp}/simulator/pix`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(pix),
    }).catch((err: Error) => {
      console.error(`Could not reach the PSP simulator at ${psp} (is \`npm run bank:psp\` running?): ${err.message}`);
      process.exit(1);
    });
    if (registered.status !== 201) {
      console.error(`The PSP at ${psp} did not take the Pix (${registered.status}); is it \`npm run bank:psp\`?`);
      process.exit(1);
    }
  }

  const body = JSON.stringify({ pix: [pix] });
  const headers: Record<string, string> = { "content-type": "application/json" };
  let target = `${base}/webhooks/pix`;
  if (secret) {
    Object.assign(
      headers,
      signatureHeaders([secretKey(secret)], `msg_${crypto.randomUUID()}`, Math.floor(Date.now() / 1000), body),
    );
  } else {
    target += `?token=${encodeURIComponent(token!)}`;
  }
  console.log(`Pix ${pix.endToEndId} (txid ${pix.txid}, R$ ${pix.valor}) → POST ${base}/webhooks/pix`);
  const response = await fetch(target, { method: "POST", headers, body }).catch((err: Error) => {
    console.error(`Could not reach ${base}: ${err.message}`);
    process.exit(1);
  });
  console.log(`${response.status} ${await response.text()}`);
  process.exit(response.ok ? 0 : 1);
}
