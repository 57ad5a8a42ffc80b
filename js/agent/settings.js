// The manifest settings the agent needs (trackers, runtime limits, current infohashes): from
// the service worker's current snapshot in Cache Storage (it revalidates the manifest on every
// navigation, and keeps the last good copy when the origin is down), else from the origin.
// Reading the snapshot first also means no failed fetch, which the browser would log, when the
// origin is down.

import { manifestUrl } from "./urls.js";

const CACHE = "planktos-v1"; // js/sw/manifest.js keeps the current manifest under its URL

export const DEFAULT_RUNTIME = {
  deadline_ms: 2500,
  ice_servers: [],
  upload_kbps: null,
  upload_on_metered: false,
  max_seeded: 50,
  stats_interval_s: 60,
  prefetch_bytes: 4 << 20,
};

/**
 * What the agent keeps of a manifest: {build, trackers, runtime, shards: {infohash: webseed}}.
 * `shards` are those the top level lists (manifest version 2: a small site's, whose root is
 * one leaf; a large site's are in tables the agent does not read).
 */
export function settingsOf(manifest) {
  if (!manifest || manifest.format !== "planktos-manifest" || manifest.version !== 2) return null;
  const shards = {};
  for (const shard of Object.values(manifest.index?.shards ?? {})) {
    if (shard && typeof shard.infohash === "string") shards[shard.infohash] = shard.webseed ?? null;
  }
  return {
    build: manifest.build ?? null,
    uninstalled: manifest.uninstalled === true,
    trackers: Array.isArray(manifest.trackers) ? manifest.trackers : ["planktos/tracker"],
    runtime: { ...DEFAULT_RUNTIME, ...(manifest.runtime ?? {}) },
    shards,
  };
}

/** The current settings for `base`; null when there is no usable manifest. */
export async function loadSettings(base) {
  const url = manifestUrl(base);
  try {
    const kept = await (await caches.open(CACHE)).match(url);
    const settings = kept ? settingsOf(await kept.json()) : null;
    if (settings) return settings;
  } catch {
    // No Cache Storage or no snapshot yet: ask the origin.
  }
  try {
    const resp = await fetch(url, { cache: "no-cache" });
    return resp.ok ? settingsOf(await resp.json()) : null;
  } catch {
    return null;
  }
}
