// Requests the browser sends straight to the network, without waking this worker (the
// ServiceWorker static routing API, `InstallEvent.addRoutes`, Chromium 123+; elsewhere
// nothing changes). The offload reports need it: a beacon sent from `pagehide` that a worker
// sees and lets through is dropped by Chromium once its page is gone (seen in about 1 run
// in 4 of tests/browser/test_stats.py), while a beacon routed to the network is not.

/** The routes for `scope`: the stats API and the dashboard (README, "Offload statistics"). */
export const networkRoutes = (scope) =>
  ["stats", "dashboard"].map((p) => ({
    condition: { urlPattern: new URL("planktos/" + p, scope).href },
    source: "network",
  }));

/** Install the routes, where the browser can; a refusal (sync or async) changes nothing. */
export function addNetworkRoutes(event, scope) {
  if (event.addRoutes) {
    event.waitUntil(
      Promise.resolve()
        .then(() => event.addRoutes(networkRoutes(scope)))
        .catch(() => {}),
    );
  }
}
