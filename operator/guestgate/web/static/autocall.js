// GuestGate link page: the link's auto-call (autoCallAfterSeconds, like Jabber Guest's
// autoCallAfterSecs). A visible countdown the visitor can cancel; 0 calls as soon as the page is
// ready. A click on Call (or the host page's start) before the end cancels the countdown.
"use strict";
(() => {
  const settings = JSON.parse(document.getElementById("gg-settings").textContent);
  const seconds = settings.autoCallAfterSeconds;
  const gg = window.gg;
  if (seconds == null || !gg || gg.state !== "idle") return;
  const t = window.ggText || ((key) => key);
  const box = document.getElementById("auto");
  const text = document.getElementById("auto-text");
  const cancel = document.getElementById("auto-cancel");
  const auto = (gg.autoCall = { remaining: seconds, cancelled: false, started: false });
  let timer = null;

  function stop() {
    clearInterval(timer);
    box.hidden = true;
  }
  function fire() {
    stop();
    auto.started = true;
    gg.call();
  }
  gg.listeners.push((state) => { if (state !== "idle") stop(); });  // called by hand, or by the host
  cancel.addEventListener("click", () => {
    auto.cancelled = true;
    stop();
    document.getElementById("reason").textContent = t("auto.cancelled");
    document.getElementById("call").focus();
  });
  if (seconds <= 0) { fire(); return; }
  text.textContent = t("auto.countdown", { seconds });
  box.hidden = false;
  timer = setInterval(() => {
    auto.remaining -= 1;
    if (auto.remaining <= 0) fire();
    else text.textContent = t("auto.countdown", { seconds: auto.remaining });
  }, 1000);
})();
