// The manifest settings the agent needs (trackers, runtime limits, current infohashes), from
// the origin, or from the last copy kept in OPFS when the origin is down.

import { manifestUrl } from "./urls.js";
import { readJson, writeJson } from "./opfs.js";

export const DEFAULT_RUNTIME = {
  deadline_ms: 2500,
  ice_servers: [],
  upload_kbps: null,
  upload_on_metered: false,
  max_seeded: 50,
};

/** What the agent keeps of a manifest: {build, trackers, runtime, shards: {infohash: webseed}}. */
export function settingsOf(manifest) {
  if (!manifest || manifest.format !== "planktos-manifest" || manifest.version !== 1) return null;
  const shards = {};
  for (const shard of Object.values(manifest.shards ?? {})) {
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

/** The current settings for `base`; null when there is neither a manifest nor a kept copy. */
export async function loadSettings(base) {
  try {
    const resp = await fetch(manifestUrl(base), { cache: "no-cache" });
    const settings = resp.ok ? settingsOf(await resp.json()) : null;
    if (settings) {
      writeJson("agent.json", settings).catch(() => {});
      return settings;
    }
  } catch {
    // Origin down: use the copy below.
  }
  const kept = await readJson("agent.json", null);
  return kept && kept.runtime && kept.shards ? kept : null;
}
