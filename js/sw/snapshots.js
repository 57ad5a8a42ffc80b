// Which manifest (snapshot) each client uses. Pure: importable in Node.
//
// Every navigation pins its new client to the manifest it revalidated; a client's
// subresources use that snapshot, so one page never mixes builds. A client seen for the
// first time without a pin (a page claimed on activation, a worker) is pinned to the current
// snapshot. Snapshots that neither the current build nor a live client uses are dropped; a
// pin younger than `graceMs` is kept even if its client is not listed yet (a navigation's
// client exists only once its response arrives). For each snapshot it also remembers which
// of its tables (manifest version 2) lookups used, so that those tables are kept and the
// others dropped from Cache Storage, and eviction spares what they list.

import { isInner, isLeaf } from "./tables.js";

export class Snapshots {
  constructor({ now = Date.now, graceMs = 60_000 } = {}) {
    this.now = now;
    this.graceMs = graceMs;
    this.current = null; // build id of the newest good manifest
    this.manifests = new Map(); // build id -> manifest
    this.pins = new Map(); // client id -> build id
    this.pinnedAt = new Map(); // client id -> when it was pinned
    this.tables = new Map(); // build id -> Set of the table hashes its lookups used
    this.nodeOf = () => undefined; // sha -> the table's node, when in memory
  }

  /** Note tables a lookup in snapshot `build` used; whether any was new. */
  useTables(build, shas) {
    let used = this.tables.get(build);
    if (!used) this.tables.set(build, (used = new Set()));
    const before = used.size;
    for (const sha of shas) used.add(sha);
    return used.size > before;
  }

  /** The hashes of the tables that kept snapshots used. */
  tablesInUse() {
    const all = new Set();
    for (const [build, used] of this.tables) if (this.manifests.has(build)) for (const sha of used) all.add(sha);
    return all;
  }

  /** Keep a manifest and make it current. */
  add(manifest) {
    const known = this.manifests.get(manifest.build);
    if (!known) this.manifests.set(manifest.build, manifest);
    this.current = manifest.build;
    return known ?? manifest;
  }

  /** Keep a manifest without making it current (restoring state). */
  restore(manifest) {
    if (!this.manifests.has(manifest.build)) this.manifests.set(manifest.build, manifest);
  }

  currentManifest() {
    return this.current === null ? null : (this.manifests.get(this.current) ?? null);
  }

  pin(clientId, build, at = this.now()) {
    if (clientId && this.manifests.has(build)) {
      this.pins.set(clientId, build);
      this.pinnedAt.set(clientId, at);
    }
  }

  /** The snapshot of a client: its pin, else the current one (and pin it there). */
  forClient(clientId) {
    const pinned = clientId ? this.manifests.get(this.pins.get(clientId)) : undefined;
    if (pinned) return pinned;
    const current = this.currentManifest();
    if (current && clientId) this.pin(clientId, current.build);
    return current;
  }

  /** Forget clients not in `liveIds` and snapshots nobody uses; returns the dropped build ids. */
  prune(liveIds) {
    const live = new Set(liveIds);
    const recent = this.now() - this.graceMs;
    for (const id of [...this.pins.keys()]) {
      if (!live.has(id) && !(this.pinnedAt.get(id) > recent)) {
        this.pins.delete(id);
        this.pinnedAt.delete(id);
      }
    }
    const used = new Set(this.pins.values());
    if (this.current !== null) used.add(this.current);
    const dropped = [];
    for (const build of [...this.manifests.keys()]) {
      if (!used.has(build)) {
        this.manifests.delete(build);
        this.tables.delete(build);
        dropped.push(build);
      }
    }
    return dropped;
  }

  /** Info hashes and file SHA-256s of every kept snapshot: what eviction spares first. */
  inUse() {
    const infohashes = new Set();
    const files = new Set();
    for (const m of this.manifests.values()) {
      const leaves = isLeaf(m.index) ? [m.index] : [];
      for (const sha of this.tables.get(m.build) ?? []) {
        const node = this.nodeOf(sha);
        if (isLeaf(node)) leaves.push(node);
      }
      for (const leaf of leaves) {
        for (const shard of Object.values(leaf.shards)) infohashes.add(shard.infohash);
        for (const f of Object.values(leaf.files)) if (f.sha256) files.add(f.sha256);
      }
    }
    return { infohashes, files };
  }

  /** What must survive a service worker restart (the manifests are stored apart). */
  state() {
    const tables = {};
    for (const [build, used] of this.tables) if (this.manifests.has(build)) tables[build] = [...used];
    return { current: this.current, pins: Object.fromEntries(this.pins), tables };
  }

  /** Restore pins (they count as old: no grace) and used tables saved by state(). */
  loadPins(state) {
    for (const [id, build] of Object.entries(state?.pins ?? {})) this.pin(id, build, 0);
    for (const [build, used] of Object.entries(state?.tables ?? {})) {
      if (this.manifests.has(build) && Array.isArray(used)) this.useTables(build, used.filter((s) => typeof s === "string"));
    }
  }
}

/** Whether a parsed manifest is one this runtime can use (format planktos-manifest, v2). */
export function isUsableManifest(m) {
  return (
    m !== null &&
    typeof m === "object" &&
    m.format === "planktos-manifest" &&
    m.version === 2 &&
    typeof m.build === "string" &&
    (m.uninstalled === true || isLeaf(m.index) || isInner(m.index))
  );
}

/** The agent's deadline for first bytes (ms), from the manifest's runtime settings. */
export function deadlineMs(manifest) {
  const d = manifest?.runtime?.deadline_ms;
  return Number.isFinite(d) && d >= 0 ? d : 2500;
}
