// Requests the browser answers without waking this worker (the ServiceWorker static routing
// API, `InstallEvent.addRoutes`, Chromium 123+; elsewhere the fetch handler does the same
// work). The offload reports need it: a beacon sent from `pagehide` that a worker sees and
// lets through is dropped by Chromium once its page is gone (seen in about 1 run in 4 of
// tests/browser/test_stats.py), while a beacon routed to the network is not. install.js
// delays every page's `load`, and a busy worker (answering that page's images) took 10–60 ms
// to answer it from its copy; the browser reads the copy itself in a few ms, and goes to the
// network when there is none.

/**
 * The routes for `scope`: the stats API and the dashboard (README, "Offload statistics") to the
 * network; install.js, which every page loads and whose `load` waits for it, from the copy
 * this worker keeps in `cache` (kept at install), without waking the worker.
 */
export const networkRoutes = (scope, cacheName) =>
  ["stats", "dashboard", "install.js"].map((p) => ({
    condition: { urlPattern: new URL("planktos/" + p, scope).href },
    source: p.endsWith(".js") ? { cacheName } : "network",
  }));

/** Install the routes, where the browser can; a refusal (sync or async) changes nothing. */
export function addNetworkRoutes(event, scope, cache) {
  if (event.addRoutes) {
    event.waitUntil(
      Promise.resolve()
        .then(() => event.addRoutes(networkRoutes(scope, cache)))
        .catch(() => {}),
    );
  }
}
