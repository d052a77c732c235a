// GuestGate link page: the visitor's texts in the page's language (catalogue from the server).
// ggText("error.retry-after", {seconds: 5}) -> "Please try again in 5 s."
"use strict";
(() => {
  const element = document.getElementById("gg-settings");
  const texts = (element && JSON.parse(element.textContent).texts) || {};
  window.ggText = (key, values) => {
    const template = Object.prototype.hasOwnProperty.call(texts, key) ? texts[key] : key;
    return template.replace(/\{(\w+)\}/g, (whole, name) => (values && name in values ? String(values[name]) : whole));
  };
})();
