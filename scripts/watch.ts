/**
 * Watches one payment from a terminal over GET /ws and prints every state as a JSON line; exits 0 once
 * it is paid or expired. If nothing answers at the URL it stops at once and says so; a connection that
 * drops later is retried (the server may be restarting), and the current state comes again on reconnect.
 *
 *   bun scripts/watch.ts <bank_payment_id> [base URL, default PAYMENTS_URL or http://localhost:$PORT]
 */
const [bankPaymentId, baseArg] = process.argv.slice(2);
if (!bankPaymentId) {
  console.error("usage: npm run watch -- <bank_payment_id> [http://localhost:3000]");
  process.exit(64);
}
const base = (baseArg || process.env.PAYMENTS_URL || `http://localhost:${process.env.PORT || 3000}`).replace(
  /\/+$/,
  "",
);
const url = `${base.replace(/^http/, "ws")}/ws?bank_payment_id=${encodeURIComponent(bankPaymentId)}`;
console.error(`connecting to ${url}   (the URL argument, PAYMENTS_URL or PORT choose where)`);

let attempt = 0;
let everOpened = false;
function connect() {
  const ws = new WebSocket(url);
  let opened = false;
  ws.addEventListener("open", () => {
    opened = true;
    everOpened = true;
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
    if (!opened && !everOpened) {
      console.error(
        `Nothing answers at ${base}. Start the service there (npm start), or pass its URL ` +
          "(npm run watch -- <bank_payment_id> http://host:port) or set PAYMENTS_URL / PORT.",
      );
      process.exit(1);
    }
    const delay = Math.min(250 * 2 ** attempt++, 5000);
    console.error(`connection closed (${e.code}); reconnecting in ${delay} ms`);
    setTimeout(connect, delay);
  });
}
connect();
