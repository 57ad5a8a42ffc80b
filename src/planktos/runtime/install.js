/* Planktos install script: add <script src="/planktos/install.js" defer></script> to pages.
 *
 * Registers the service worker where browsers support it and does nothing elsewhere.
 * Runtime not shipped yet (see the browser runtime issue): no agent is started.
 */
(function () {
  "use strict";
  if (!("serviceWorker" in navigator)) return;
  var script = document.currentScript;
  var base = script ? new URL("..", script.src) : new URL("/", location.href);
  var register = function () {
    navigator.serviceWorker
      .register(new URL("planktos.sw.js", base).href, { scope: base.pathname })
      .catch(function () { /* never worse than no Planktos: the page works without it */ });
  };
  if (document.readyState === "complete") register();
  else addEventListener("load", register, { once: true });
})();
