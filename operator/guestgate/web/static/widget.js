// GuestGate link page in widget mode (?widget=true): events to the host page that frames it, and
// commands from it. Only the allowed origins (the link's and the cluster's allowedOrigins, and
// the page's own) hear the events or may drive the call; the server's frame-ancestors keeps every
// other site from framing the page at all. The schema is in docs/widget.md.
//
// To the host:   {source: "guestgate", version: 1, type: "ready" | "ringing" | "connected" |
//                 "ended" | "error", link, ...}; ended: {reason, text, detail}; error: {code, text}
// From the host: {target: "guestgate", type: "start" | "end" | "dtmf", digits?}
"use strict";
(() => {
  const settings = JSON.parse(document.getElementById("gg-settings").textContent);
  if (!settings.widget) return;
  const allowed = new Set(settings.allowedOrigins || []);
  const host = window.parent !== window ? window.parent : null;
  const gg = window.gg || (window.gg = {});
  gg.posted = [];  // what was posted, for tests and the console

  function post(type, fields) {
    const message = { source: "guestgate", version: 1, type, link: settings.path || "", ...fields };
    gg.posted.push(message);
    if (!host) return;
    // postMessage delivers only when the target origin matches the host's: posting to each
    // allowed origin reaches the host exactly when it is one of them, and no one else.
    allowed.forEach((origin) => host.postMessage(message, origin));
  }

  if (settings.error) {  // a refusal page: say why, nothing else to do
    post("error", { code: settings.error.code, text: settings.error.text });
    return;
  }

  let last = "idle";
  (gg.listeners || []).push((state, info) => {
    if (state === last) return;
    last = state;
    if (state === "ringing" || state === "connected") post(state, {});
    else if (state === "ended" && gg.error) post("error", { code: gg.error, text: info.reason || info.text });
    else if (state === "ended") post("ended", { reason: gg.endReason || "failed", text: info.reason || "", detail: info.detail || "" });
  });

  const DIGITS = /^[0-9*#]$/;
  window.addEventListener("message", (event) => {
    // Only the frame's own host, from an allowed origin, and only our few commands.
    if (!host || event.source !== host || !allowed.has(event.origin)) return;
    const command = event.data;
    if (!command || typeof command !== "object" || command.target !== "guestgate") return;
    if (command.type === "start") gg.call();
    else if (command.type === "end") gg.hangup();
    else if (command.type === "dtmf" && typeof command.digits === "string") {
      Array.from(command.digits).slice(0, 16).forEach((d, i) => {
        if (DIGITS.test(d)) setTimeout(() => gg.dtmf(d), i * 150);  // the server takes 10 a second
      });
    }
  });

  // The compact layout hides the keypad behind a button.
  const keys = document.getElementById("keys");
  const keypad = document.getElementById("keypad");
  keys.addEventListener("click", () => {
    const open = keys.getAttribute("aria-expanded") !== "true";
    keys.setAttribute("aria-expanded", String(open));
    keypad.classList.toggle("open", open);
  });

  if (gg.error) {  // no call is possible here (no secure page): say so instead of "ready"
    post("error", { code: gg.error, text: document.getElementById("state-text").textContent });
  } else {
    post("ready", { state: gg.state || "idle" });
  }
})();
