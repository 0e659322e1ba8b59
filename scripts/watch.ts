/**
 * Watches one payment from a terminal over GET /ws and prints every state as a JSON line; exits 0 once
 * it is paid or expired. Reconnects (and gets the current state again) if the server goes away.
 *
 *   bun scripts/watch.ts <bank_payment_id> [base URL, default PAYMENTS_URL or http://localhost:$PORT]
 */
const [bankPaymentId, baseArg] = process.argv.slice(2);
if (!bankPaymentId) {
  console.error("usage: bun scripts/watch.ts <bank_payment_id> [http://localhost:3000]");
  process.exit(64);
}
const base = baseArg ?? process.env.PAYMENTS_URL ?? `http://localhost:${process.env.PORT ?? 3000}`;
const url = `${base.replace(/\/+$/, "").replace(/^http/, "ws")}/ws?bank_payment_id=${encodeURIComponent(bankPaymentId)}`;

let attempt = 0;
function connect() {
  const ws = new WebSocket(url);
  ws.addEventListener("open", () => {
    attempt = 0;
    console.error(`watching ${bankPaymentId} on ${url}`);
  });
  ws.addEventListener("message", (e) => {
    const message = JSON.parse(String(e.data));
    console.log(JSON.stringify(message));
    if (message.type === "error") process.exit(1);
    if (message.type === "payment" && message.payment.status !== "pending") process.exit(0);
  });
  ws.addEventListener("close", (e) => {
    const delay = Math.min(250 * 2 ** attempt++, 5000);
    console.error(`connection closed (${e.code}); reconnecting in ${delay} ms`);
    setTimeout(connect, delay);
  });
}
connect();
