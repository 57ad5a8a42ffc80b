// The in-page agent (docs/runtime.md): one WebTorrent client per browser profile that fetches
// pieces for the service worker from peers, tells it what its peers hold, and seeds the store.
// Loaded by install.js (at once on a controlled page, else after `load` when idle); importing
// it starts it.

import { hasIndexedDb } from "../common/idb-dir.js";
import { createClient } from "./client.js";
import { counters } from "./counters.js";
import { reportHaves } from "./haves.js";
import { whenLeader } from "./leader.js";
import { setCurrentInfohashes } from "./opfs.js";
import { prefetchSoon } from "./prefetch.js";
import { answer } from "./read.js";
import { seedStored } from "./seed.js";
import { loadSettings } from "./settings.js";
import { startReporting } from "./stats-beacon.js";
import { linkToServiceWorker } from "./sw-link.js";
import { Torrents } from "./torrents.js";
import { enforceUploadPolicy } from "./upload.js";
import { baseOf } from "./urls.js";

export { counters };
export { storageRoot } from "../common/idb-dir.js"; // the store's root, for tests and tools

const supported = () =>
  typeof navigator !== "undefined" &&
  "serviceWorker" in navigator &&
  typeof RTCPeerConnection === "function" &&
  typeof navigator.locks?.request === "function" &&
  (typeof navigator.storage?.getDirectory === "function" || hasIndexedDb());

let started = false;

/** Start the agent (idempotent); the base defaults to the directory above planktos/. */
export function start(base = baseOf(import.meta.url)) {
  if (started || !supported()) return;
  started = true;
  const noAgent = () => navigator.serviceWorker.controller?.postMessage({ type: "no-agent" });
  whenLeader(() => lead(base).then((led) => led || noAgent(), noAgent));
}

async function lead(base) {
  const settings = await loadSettings(base);
  if (!settings || settings.uninstalled) return false;
  counters.leader = true;
  const reporter = startReporting(base, settings.runtime, counters);
  setCurrentInfohashes(Object.keys(settings.shards));
  navigator.storage.persist?.().catch(() => {});
  const client = createClient(settings.runtime);
  const policy = enforceUploadPolicy(client, settings.runtime);
  const torrents = new Torrents(client, settings, base);
  // A new worker knows nothing of what the peers hold: tell it all again.
  let haves = null;
  const onMessage = (msg, port) => (msg?.type === "stats" ? reporter?.take(msg) : answer(torrents, port, msg));
  const post = linkToServiceWorker(onMessage, () => haves?.again());
  haves = reportHaves(client, post);
  prefetchSoon(base, settings.runtime, counters);
  if (policy.uploading()) await seedStored(torrents, Number(settings.runtime.max_seeded) || 50);
  return true;
}

start();
