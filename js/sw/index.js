// Planktos service worker (docs/runtime.md). Entry point bundled into planktos.sw.js; the
// build replaces the __PLANKTOS_BUILD__ token below with the build id, so every build is a new script.

import { AgentLink } from "./agent.js";
import { addCounters, newCounters } from "./counters.js";
import { fileInfo, IntegrityError, PEERS_ONLY } from "./file.js";
import { respondFile } from "./handler.js";
import { deleteIdbStore, storageRoot } from "../common/idb-dir.js";
import { CACHE, clearCaches, ManifestSource } from "./manifest.js";
import { Meters } from "./meter.js";
import { isRuntimeScript, PREFETCH, scopedPath } from "./routing.js";
import { addNetworkRoutes } from "./routes.js";
import { keepScript, runtimeScript } from "./scripts.js";
import { Snapshots } from "./snapshots.js";
import { Store } from "./store.js";

const BUILD = "__PLANKTOS_BUILD__";
const ignore = () => {}; // a failure that changes nothing

const scope = self.registration.scope;
const counters = newCounters();
const store = new Store(storageRoot); // OPFS, else IndexedDB
const agent = new AgentLink({ clientExists: async (id) => Boolean(await self.clients.get(id)) });
const meters = new Meters(); // how fast the origin and the peers have been (meter.js)
const snapshots = new Snapshots();
const manifests = new ManifestSource(scope, snapshots, { scriptUrl: self.location.href });
const navigating = new Map(); // resulting client id -> promise of its manifest
let uninstalled = false;

manifests.ready();

// Counters survive the browser stopping the worker: saved a second after a change, added back
// on start.
const STATS_KEY = new URL("planktos/sw-stats.json", scope).href;
let statsSaved = caches
  .open(CACHE)
  .then((cache) => cache.match(STATS_KEY))
  .then((r) => r?.json())
  .then((saved) => addCounters(counters, saved))
  .catch(ignore);
let statsTimer = null;
let pushTimer = null;
function saveStatsSoon() {
  // The agent's reporter sends these from pagehide, when it cannot ask (stats-beacon.js).
  pushTimer ??= setTimeout(() => {
    pushTimer = null;
    if (agent.port) agent.post(agent.port, { type: "stats", ...counters });
  }, 100);
  if (statsTimer || uninstalled) return;
  statsTimer = setTimeout(() => {
    statsTimer = null;
    statsSaved = statsSaved
      .then(() => caches.open(CACHE))
      .then((cache) => cache.put(STATS_KEY, new Response(JSON.stringify(counters))))
      .catch(ignore);
  }, 1000);
}

// Chromium can park a skipWaiting() worker in "installed" when the outgoing worker restarts at
// the wrong moment (a fetch during the hand-over), and a navigation then hangs; asking again
// until our activate event fires un-parks it.
let activated = false;
self.addEventListener("install", (event) => {
  addNetworkRoutes(event, scope, CACHE);
  // The copy of install.js that the route above answers with (the fetch handler too).
  const install = new URL(INSTALL_TAG, scope).href;
  event.waitUntil(keepScript(install, fetch(install, { cache: "no-cache" }), BUILD).catch(ignore));
  self.skipWaiting();
  let tries = 0;
  const retry = setInterval(() => {
    if (activated || ++tries > 300) clearInterval(retry);
    else self.skipWaiting().catch(ignore);
  }, 100);
});

// A new build's worker takes over once this one has no event in hand (Chromium counts an
// event until its waitUntil settles): prefetches, which wait for peers up to the deadline,
// give way at once (204) while a newer worker installs, and again if it fails.
let prefetching = new AbortController();
self.registration.addEventListener("updatefound", () => {
  const newer = self.registration.installing;
  if (!activated || !newer) return;
  prefetching.abort();
  newer.addEventListener("statechange", () => {
    if (newer.state === "redundant") prefetching = new AbortController();
  });
});

self.addEventListener("activate", (event) => {
  activated = true;
  event.waitUntil(
    Promise.all([self.clients.claim(), manifests.revalidate().then(afterManifest)]).catch(ignore),
  );
});

self.addEventListener("message", (event) => {
  const data = event.data;
  const reply = (msg) => (event.ports?.[0] ?? event.source)?.postMessage(msg);
  try {
    if (data?.type === "agent" && event.ports?.[0]) agent.register(event.ports[0], event.source?.id ?? null);
    else if (data?.type === "summon" && event.ports?.[0]) agent.offer(event.ports[0]);
    else if (data?.type === "stats") {
      const answer = () => reply({ type: "stats", build: BUILD, ...counters, holding: agent.holdings() });
      event.waitUntil(statsSaved.then(answer).catch(ignore));
    }
    else if (data?.type === "probe" && typeof data.url === "string") {
      event.waitUntil(probe(data.url).then((reachable) => reply({ type: "probe", reachable })));
    }
  } catch {
    // a client that went away meanwhile
  }
});

/**
 * Whether `url` (a tracker's http(s) URL, for the agent: js/agent/trackers.js) answers at all,
 * any status. A `no-cors` fetch from the service worker that fails is logged nowhere, unlike
 * a WebSocket (anywhere) or a fetch from a page.
 */
function probe(url) {
  const init = { mode: "no-cors", cache: "no-store", credentials: "omit", signal: AbortSignal.timeout(5000) };
  return fetch(url, init).then(
    () => true,
    () => false,
  );
}

self.addEventListener("fetch", (event) => {
  if (uninstalled) return;
  const { method, url } = event.request;
  let rel = null;
  try {
    if (isRuntimeScript(method, url, scope)) {
      event.respondWith(runtimeScript(event.request, (p) => event.waitUntil(p.catch(ignore)), BUILD));
      return;
    }
    rel = scopedPath(method, url, scope);
  } catch {
    rel = null;
  }
  // The agent's prefetch (js/agent/prefetch.js) is answered from the store or peers only;
  // the header says "page" (the agent reads it for its links) or "file".
  const peersOnly = event.request.headers.get(PREFETCH);
  if (rel === null) {
    if (peersOnly) event.respondWith(notPrefetched());
    return;
  }
  if (event.request.mode === "navigate") onNavigation(event, rel);
  else onSubresource(event, rel, peersOnly);
});

/**
 * A prefetch the worker does not answer from the store or peers: no network, no bytes, and
 * a 2xx status (Chromium logs a console error for a page's fetch answered 4xx or 5xx).
 */
const notPrefetched = () => new Response(null, { status: 204 });

/** Revalidate the manifest, pin the new client to it, answer from it. */
function onNavigation(event, rel) {
  const clientId = event.resultingClientId;
  const pinned = manifests.revalidate().then(async (m) => {
    await afterManifest(m);
    if (m && !m.uninstalled) {
      snapshots.pin(clientId, m.build);
      manifests.saveSoon();
    }
    return m;
  });
  if (clientId) {
    navigating.set(clientId, pinned);
    pinned.finally(() => navigating.get(clientId) === pinned && navigating.delete(clientId)).catch(ignore);
  }
  event.waitUntil(pinned.then(pruneSoon).catch(ignore));
  let early = null;
  if (manifests.loaded) {
    const current = snapshots.currentManifest();
    const hit = current && foundNow(current, rel);
    // Not ours by the snapshot we have: the browser fetches it; the pin still follows.
    if (hit === null) return;
    // The page is read from the snapshot in hand while the manifest revalidates, and kept if
    // the build did not change: one round trip to the origin rather than two in a row.
    if (hit) early = { hit, same: pinned.then((m) => m?.build === current.build && !m.uninstalled) };
  }
  respond(
    event,
    async () => {
      const m = await pinned;
      return m && !m.uninstalled ? found(m, rel) : null;
    },
    // Browsing in one tab: this page brings its own agent (install.js), which replaces the
    // leaving page's.
    (bytes) => loadsInstallScript(bytes) && agent.replacing(),
    null,
    early,
  );
}

const INSTALL_TAG = "planktos/install.js";
const decoder = new TextDecoder();
const loadsInstallScript = (bytes) => decoder.decode(bytes).includes(INSTALL_TAG);

/** Answer from the snapshot of the requesting client. */
function onSubresource(event, rel, peersOnly) {
  const clientId = event.clientId;
  // A client's navigation still revalidating, or the first manifest still on its way (a page
  // claimed at activation): wait for it rather than guess.
  const pending = navigating.get(clientId) ?? (snapshots.current === null ? manifests.inflight : null);
  if (!pending && manifests.loaded) {
    const m = snapshots.forClient(clientId);
    const hit = m ? foundNow(m, rel) : null;
    if (hit === null) {
      if (peersOnly) event.respondWith(notPrefetched());
      return;
    }
    pinResulting(event, m);
    respond(event, async () => hit ?? found(m, rel), null, peersOnly);
    return;
  }
  respond(
    event,
    async () => {
      await pending;
      await manifests.ready();
      const m = snapshots.forClient(clientId);
      if (m) pinResulting(event, m);
      return m && found(m, rel);
    },
    null,
    peersOnly,
  );
}

/** A worker started from a page uses the page's snapshot. */
function pinResulting(event, m) {
  if (event.resultingClientId) snapshots.pin(event.resultingClientId, m.build);
  manifests.saveSoon();
}

/** The file `rel` names in snapshot `m` ({manifest, key}) or null; may fetch a table. */
const found = (m, rel) => manifests.find(m, rel);
/** The same from the tables in memory: undefined when a table is still to be fetched. */
const foundNow = (m, rel) => manifests.findNow(m, rel);

/**
 * respondWith our answer; the network (fetch) when the file is not ours or anything fails.
 * `peersOnly` (a prefetch): the store or peers, else 204, never the network. `early`
 * ({hit, same}): a read begun before `lookup` settles, answered if `same` resolves true.
 */
function respond(event, lookup, onBytes = null, peersOnly = null, early = null) {
  let finish;
  const finished = new Promise((resolve) => {
    finish = resolve;
  });
  const signal = peersOnly ? prefetching.signal : null;
  if (signal?.aborted) return event.respondWith(notPrefetched());
  const tasks = new Set();
  const background = (p) => {
    p = Promise.resolve(p).catch(ignore);
    if (!signal?.aborted) tasks.add(p);
  };
  // A prefetch given up for an update: its reads go on, detached from the event.
  const stopped = signal && new Promise((_, reject) => {
    const stop = () => {
      finish();
      reject(PEERS_ONLY);
    };
    signal.addEventListener("abort", stop, { once: true });
  });
  stopped?.catch(ignore);
  event.waitUntil(
    finished.then(async () => {
      while (tasks.size) {
        const now = [...tasks];
        tasks.clear();
        await Promise.all(now);
      }
      saveStatsSoon();
    }),
  );
  // A prefetch that fails (its page, and so its agent, gone meanwhile) says nothing of the
  // peers the next page's reads should avoid: it does not cool them down.
  const m = peersOnly ? Object.create(meters, { peerFailed: { value: () => {} } }) : meters;
  const media = /^(audio|video)$/.test(event.request.destination);
  const navigate = event.request.mode === "navigate";
  const read = (hit, done) =>
    respondFile(
      { store, agent, meters: m, counters, scope, keep: () => snapshots.inUse(), background, done, peersOnly, media, onBytes, navigate },
      event.request,
      fileInfo(hit.manifest, hit.key, scope),
    );
  event.respondWith(
    (async () => {
      try {
        if (early) {
          const kept = early.same.catch(() => false);
          const reading = read(early.hit, () => kept.then((k) => k && finish())).catch(() => null);
          if (await kept) {
            const response = await reading;
            if (response) {
              counters.requests.handled += 1;
              return response;
            }
          } else reading.then((r) => r?.body?.cancel().catch(ignore));
        }
        const hit = await lookup();
        if (!hit) {
          finish();
          return peersOnly ? notPrefetched() : fetch(event.request);
        }
        const reading = read(hit, finish);
        const response = await (stopped ? Promise.race([reading, stopped]) : reading);
        counters.requests.handled += 1;
        return response;
      } catch (err) {
        finish();
        if (peersOnly) return notPrefetched();
        if (err instanceof IntegrityError) {
          counters.requests.failed += 1;
          return Response.error();
        }
        counters.requests.fallback += 1;
        return fetch(event.request);
      }
    })(),
  );
}

/** The kill switch: a manifest with `uninstalled: true` removes every trace of Planktos. */
async function afterManifest(m) {
  if (!m?.uninstalled || uninstalled) return;
  uninstalled = true;
  const sweep = () => Promise.allSettled([store.clear().then(deleteIdbStore), clearCaches()]);
  await sweep();
  await self.registration.unregister().catch(ignore);
  // Writes under way (pins, counters, a runtime script's copy) may land after the first sweep;
  // a worker stays alive 30 s after its last event, so this timer runs.
  setTimeout(sweep, 2000);
}

let pruneTimer = null;
function pruneSoon() {
  if (pruneTimer) return;
  pruneTimer = setTimeout(async () => {
    pruneTimer = null;
    try {
      const live = await self.clients.matchAll({ includeUncontrolled: true, type: "all" });
      await manifests.prune([...live.map((c) => c.id), ...navigating.keys()]);
    } catch {
      // next time
    }
  }, 1000);
}

// Never an unhandled rejection from here: every path above catches; this is the last net.
self.addEventListener("unhandledrejection", (event) => event.preventDefault());
