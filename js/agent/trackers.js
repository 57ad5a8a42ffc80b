// Which of the manifest's trackers the client may connect to. A WebSocket to a tracker that is
// down makes Chromium log "WebSocket connection to … failed" in the console, wherever it is
// opened (page, dedicated worker, service worker). A `no-cors` fetch of the tracker's HTTP
// URL from the service worker is logged nowhere when it fails (nor when it answers 4xx), so
// the service worker probes each tracker first; one that is down is probed again with backoff
// and joins the torrents when it answers.

/** First retry after this long; doubled on each failure, up to RETRY_MAX_MS. */
export const RETRY_MIN_MS = 5_000;
export const RETRY_MAX_MS = 5 * 60_000;
/** Probes older than this are made again before a new torrent connects: a tracker that died
 * since would otherwise cost a failed WebSocket (a console error) before its close is seen. */
export const FRESH_MS = 500;
/** No answer from the service worker in this long (an older version): connect anyway. */
const ANSWER_MS = 6_000;

/** The http(s) URL a service worker can fetch for a ws(s) tracker URL. Pure. */
export function probeUrl(trackerUrl) {
  const url = new URL(trackerUrl);
  url.protocol = url.protocol === "wss:" ? "https:" : "http:";
  return url.href;
}

/** The next retry delay after `previous` (0: first failure). Pure. */
export const nextDelay = (previous) => Math.min(RETRY_MAX_MS, previous ? previous * 2 : RETRY_MIN_MS);

/** Ask the service worker whether `url` answers; null when it does not say. */
async function askServiceWorker(url) {
  const reg = await navigator.serviceWorker.ready;
  const worker = navigator.serviceWorker.controller ?? reg.active;
  if (!worker) return null;
  const channel = new MessageChannel();
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ANSWER_MS);
    channel.port1.onmessage = (event) => {
      clearTimeout(timer);
      channel.port1.close();
      resolve(typeof event.data?.reachable === "boolean" ? event.data.reachable : null);
    };
    worker.postMessage({ type: "probe", url }, [channel.port2]);
  });
}

export class TrackerGate {
  /** `urls`: the manifest's ws(s) trackers; `onChange(usable)` when one comes back. */
  constructor(urls, { probe = askServiceWorker, onChange = () => {}, schedule = (fn, ms) => setTimeout(fn, ms), now = Date.now } = {}) {
    this.urls = urls;
    this.probe = probe;
    this.schedule = schedule;
    this.onChange = onChange;
    this.up = new Set();
    this.delays = new Map(); // url → last retry delay
    this.now = now;
    this.probing = null;
    this.checkedAt = -Infinity;
  }

  /** The trackers to use now, from probes at most FRESH_MS old (made again if older). */
  async usable() {
    if (!this.probing && this.now() - this.checkedAt > FRESH_MS) {
      this.probing = Promise.all(this.urls.filter((url) => !this.delays.has(url)).map((url) => this._check(url)))
        .then(() => {
          this.checkedAt = this.now();
        })
        .finally(() => {
          this.probing = null;
        });
    }
    await this.probing;
    return this.urls.filter((url) => this.up.has(url));
  }

  async _check(url) {
    let reachable;
    try {
      reachable = await this.probe(probeUrl(url));
    } catch {
      reachable = null;
    }
    // No answer at all (no or an older service worker): behave as before the probe.
    if (reachable !== false) {
      const came = !this.up.has(url);
      this.up.add(url);
      this.delays.delete(url);
      return came;
    }
    this.up.delete(url);
    this._retry(url);
    return false;
  }

  /** A tracker that was up went away: the trackers to use now; it is probed again later. */
  lost(url) {
    if (this.up.delete(url)) this._retry(url);
    return this.urls.filter((u) => this.up.has(u));
  }

  _retry(url) {
    const delay = nextDelay(this.delays.get(url) ?? 0);
    this.delays.set(url, delay);
    this.schedule(() => {
      this._check(url).then((came) => {
        if (came) this.onChange(this.urls.filter((u) => this.up.has(u)));
      });
    }, delay);
  }
}
