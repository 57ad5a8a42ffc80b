// The browser side of reporting (js/agent/stats-reporter.js): `navigator.sendBeacon` to
// `<base>planktos/stats`, the report state in localStorage, the SW's counters by message, and
// the page events. Started by the agent leader only (js/agent/index.js).

import { Reporter } from "./stats-reporter.js";

const SW_TIMEOUT_MS = 1000;
// How often the SW's counters are fetched between reports, so that a report sent from
// `pagehide` (which cannot wait for the SW) misses at most this much of them.
const SW_REFRESH_MS = 5000;

/** Report every `runtime.stats_interval_s` seconds (0: never) and when the page is hidden. */
export function startReporting(base, runtime, counters) {
  const seconds = Number(runtime?.stats_interval_s ?? 60);
  if (!(seconds > 0) || typeof navigator.sendBeacon !== "function") return null;
  const url = new URL("planktos/stats", base).href;
  const reporter = new Reporter({
    counters,
    askSw: askServiceWorker,
    send: (body) => navigator.sendBeacon(url, body),
    storage: localState(`planktos-stats:${new URL(base).pathname}`),
  });
  setInterval(() => reporter.tick().catch(() => {}), seconds * 1000);
  // Only while visible: a hidden leader refreshed when it was hidden, and keeping the SW awake
  // for a background tab is not worth it (another tab that closes hands its counts on).
  setInterval(() => {
    if (document.visibilityState === "visible") reporter.refresh();
  }, Math.min(SW_REFRESH_MS, seconds * 1000));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") reporter.tick().catch(() => {});
  });
  // The page may be gone before the SW answers a hidden page's question: report what is
  // known now; the rest of the SW's counts wait for the next report, maybe another tab's.
  addEventListener("pagehide", () => reporter.flush());
  return reporter;
}

/** The service worker's counters ({type: "stats"}, docs/runtime.md), or null. */
async function askServiceWorker() {
  const worker = navigator.serviceWorker?.controller ?? (await navigator.serviceWorker?.getRegistration())?.active;
  if (!worker) return null;
  const channel = new MessageChannel();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), SW_TIMEOUT_MS);
    channel.port1.onmessage = (e) => {
      clearTimeout(timer);
      channel.port1.close();
      resolve(e.data?.type === "stats" ? e.data : null);
    };
    worker.postMessage({ type: "stats" }, [channel.port2]);
  });
}

/** localStorage under `key`, or memory where storage is refused. */
function localState(key) {
  let memory = null;
  return {
    get() {
      try {
        return JSON.parse(localStorage.getItem(key) ?? "null") ?? memory;
      } catch {
        return memory;
      }
    },
    set(state) {
      memory = state;
      try {
        localStorage.setItem(key, JSON.stringify(state));
      } catch {
        // memory only
      }
    },
  };
}
