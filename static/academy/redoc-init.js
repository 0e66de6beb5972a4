// Starts ReDoc on /api/v1/redoc/.  The nonce of this script lets the <style> elements that
// ReDoc inserts pass the page's CSP; the fonts are the system's (no font CDN).
"use strict";
(function () {
  const container = document.getElementById("redoc-container");
  Redoc.init(
    container.dataset.schemaUrl,
    {
      nonce: document.currentScript.nonce,
      theme: { typography: { fontFamily: "system-ui, sans-serif", headings: { fontFamily: "system-ui, sans-serif" } } },
    },
    container,
  );
})();
