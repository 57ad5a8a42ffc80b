/* Planktos service worker, build __PLANKTOS_BUILD__.
 *
 * Runtime not shipped yet (see the browser runtime issue): this worker installs and claims
 * pages but has no fetch handler, so every request goes to the network untouched. It exists
 * so that sites can already include install.js, and so that browsers see a byte-different
 * script after every build (the build id above).
 */
const PLANKTOS_BUILD = "__PLANKTOS_BUILD__";
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("message", (event) => {
  if (event.data === "planktos:build" && event.source) event.source.postMessage({ build: PLANKTOS_BUILD });
});
