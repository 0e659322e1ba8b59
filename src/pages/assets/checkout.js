// Checkout page behaviour: countdown, copy button and live status over the /ws WebSocket (CONTRACT §6).
// Served as a file (the CSP allows no inline script); everything it needs comes from data-* attributes.
(function () {
  "use strict";

  var root = document.getElementById("checkout");
  if (!root) return;

  var bankPaymentId = root.getAttribute("data-bank-payment-id");
  var lang = document.documentElement.lang || "pt-BR";
  var expiresAt = Number(root.getAttribute("data-expires-at"));
  // The server's clock decides expiry; measure how far ours is from it once, at load.
  var clockOffset = Number(root.getAttribute("data-server-now")) - Date.now();
  var serverStatus = root.getAttribute("data-status");
  // A paid payment whose refunds add up to its value shows as refunded (refunded_value, CONTRACT §3).
  var fullyRefunded = root.getAttribute("data-fully-refunded") === "true";
  var timeFormat = new Intl.DateTimeFormat(
    lang,
    lang === "en"
      ? {
          timeZone: root.getAttribute("data-time-zone"),
          day: "numeric",
          month: "short",
          year: "numeric",
          hour: "numeric",
          minute: "2-digit",
        }
      : {
          timeZone: root.getAttribute("data-time-zone"),
          day: "2-digit",
          month: "2-digit",
          year: "numeric",
          hour: "2-digit",
          minute: "2-digit",
        },
  );

  var sections = root.querySelectorAll("[data-state]");
  var countdown = root.querySelector("[data-countdown]");
  var live = root.querySelector("[data-live]");
  var liveText = root.querySelector("[data-live-text]");
  var announce = root.querySelector("[data-announce]");
  var paidAt = root.querySelector("[data-paid-at]");
  var shown = serverStatus;

  function serverNow() {
    return Date.now() + clockOffset;
  }

  function formatRemaining(ms) {
    var total = Math.max(0, Math.ceil(ms / 1000));
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    var mm = h > 0 && m < 10 ? "0" + m : String(m);
    var ss = s < 10 ? "0" + s : String(s);
    return h > 0 ? h + ":" + mm + ":" + ss : mm + ":" + ss;
  }

  // A pending payment past its expiry is expired, whatever the socket has said so far (CONTRACT §3).
  function effectiveStatus() {
    if (serverStatus === "pending" && serverNow() >= expiresAt) return "expired";
    if (serverStatus === "paid" && fullyRefunded) return "refunded";
    return serverStatus;
  }

  // Nothing more can change once expired or refunded; a paid page keeps listening, for a refund.
  function isFinal(state) {
    return state === "expired" || state === "refunded";
  }

  function render() {
    var status = effectiveStatus();
    // data-status is the state the page shows now, for styles and tests alike; it starts as the server's.
    root.setAttribute("data-status", status);
    root.setAttribute("data-shown", status);
    if (status === shown) return;
    shown = status;
    for (var i = 0; i < sections.length; i++) {
      var section = sections[i];
      var active = section.getAttribute("data-state") === status;
      section.hidden = !active;
      if (active) {
        document.title = section.getAttribute("data-title") || document.title;
        var heading = section.querySelector("h2");
        if (announce && heading) announce.textContent = heading.textContent;
      }
    }
  }

  function tick() {
    if (countdown && serverStatus === "pending") countdown.textContent = formatRemaining(expiresAt - serverNow());
    render();
  }

  function applyPayment(payment) {
    if (!payment || payment.bank_payment_id !== bankPaymentId) return;
    if (payment.status === "paid" && payment.paid_at && paidAt) {
      var at = new Date(payment.paid_at);
      paidAt.textContent = timeFormat.format(at);
      paidAt.setAttribute("datetime", at.toISOString());
    }
    // expiration_date never changes and carries whole seconds only: the page keeps the exact data-expires-at.
    serverStatus = payment.status;
    fullyRefunded = payment.status === "paid" && payment.refunded_value >= payment.value;
    tick();
    if (isFinal(effectiveStatus())) stopLive();
  }

  // Live status. The server sends the current state on every (re)subscribe, so reconnecting is enough to
  // catch up on a change made while the socket was down.
  var socket = null;
  var attempts = 0;
  var retryTimer = null;
  var finished = isFinal(effectiveStatus());

  function setLive(label) {
    if (live && liveText) liveText.textContent = live.getAttribute(label) || liveText.textContent;
    if (live) live.classList.toggle("is-reconnecting", label === "data-label-reconnecting");
  }

  function connect() {
    retryTimer = null;
    if (finished) return;
    var scheme = location.protocol === "https:" ? "wss:" : "ws:";
    var ws;
    try {
      ws = new WebSocket(scheme + "//" + location.host + "/ws?bank_payment_id=" + encodeURIComponent(bankPaymentId));
    } catch (e) {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.onmessage = function (event) {
      var message;
      try {
        message = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (message && message.type === "payment") {
        attempts = 0;
        setLive("data-label-waiting");
        applyPayment(message.payment);
      }
    };
    ws.onclose = function () {
      if (socket === ws) socket = null;
      if (!finished) scheduleReconnect();
    };
  }

  // Exponential back-off with jitter, so a restarted server is not hit by every page at the same instant.
  function scheduleReconnect() {
    if (retryTimer !== null || finished) return;
    setLive("data-label-reconnecting");
    var delay = Math.min(30000, 1000 * Math.pow(2, attempts)) * (0.5 + Math.random() * 0.5);
    attempts++;
    retryTimer = setTimeout(connect, delay);
  }

  function stopLive() {
    finished = true;
    if (retryTimer !== null) clearTimeout(retryTimer);
    retryTimer = null;
    if (socket) socket.close(1000);
    socket = null;
  }

  // A phone that slept may have missed the close; reconnect at once when the page is seen again.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible" || finished) return;
    tick();
    if (!socket) {
      if (retryTimer !== null) clearTimeout(retryTimer);
      retryTimer = null;
      attempts = 0;
      connect();
    }
  });

  // Copy button: the Clipboard API where the page is a secure context, the older selection copy elsewhere.
  var copyButton = root.querySelector("[data-copy]");
  var code = document.getElementById("pix-code");
  if (copyButton && code) {
    var resetTimer = null;
    var showCopyResult = function (label, ok) {
      copyButton.textContent = copyButton.getAttribute(label);
      copyButton.classList.toggle("is-copied", ok);
      if (resetTimer !== null) clearTimeout(resetTimer);
      resetTimer = setTimeout(function () {
        copyButton.textContent = copyButton.getAttribute("data-label-copy");
        copyButton.classList.remove("is-copied");
      }, 2500);
    };
    var selectionCopy = function () {
      code.focus();
      code.select();
      var ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (e) {
        ok = false;
      }
      showCopyResult(ok ? "data-label-copied" : "data-label-failed", ok);
    };
    copyButton.hidden = false;
    copyButton.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(code.value).then(function () {
          showCopyResult("data-label-copied", true);
        }, selectionCopy);
      } else {
        selectionCopy();
      }
    });
    code.addEventListener("focus", function () {
      code.select();
    });
  }

  tick();
  // Without JavaScript a countdown would stand still, so the server sends it hidden and the page shows the
  // expiry time only; a running script shows the countdown it keeps up to date.
  var countdownLine = root.querySelector("[data-countdown-line]");
  if (countdownLine) countdownLine.hidden = false;
  if (!finished) {
    setInterval(tick, 1000);
    connect();
  }
})();
