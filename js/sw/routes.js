// Requests the browser sends straight to the network, without waking this worker (the
// ServiceWorker static routing API, `InstallEvent.addRoutes`, Chromium 123+; elsewhere
// nothing changes). The offload reports need it: a beacon sent from `pagehide` that a worker
// sees and lets through is dropped by Chromium once its page is gone (seen in about 1 run
// in 4 of tests/browser/test_stats.py), while a beacon routed to the network is not.

/** The routes for `scope`: the stats API and the dashboard (README, "Offload statistics"). */
export function networkRoutes(scope) {
  return ["planktos/stats", "planktos/dashboard"].map((path) => ({
    condition: { urlPattern: new URL(path, scope).href },
    source: "network",
  }));
}

/** Install the routes, where the browser can. */
export function addNetworkRoutes(event, scope) {
  if (typeof event.addRoutes !== "function") return;
  try {
    event.waitUntil(Promise.resolve(event.addRoutes(networkRoutes(scope))).catch(() => {}));
  } catch {
    // an engine that knows addRoutes but not these rules: the worker lets them through anyway
  }
}
