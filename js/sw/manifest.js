// The manifest snapshots, kept across service worker restarts in Cache Storage ("planktos-v1"):
//   <scope>planktos/manifest.json               the last good manifest (the current snapshot)
//   <scope>planktos/manifest.json?build=<id>    every snapshot a client may still be pinned to
//   <scope>planktos/sw-state.json               {current, pins, tables, etag} (a key only; never fetched)
//   <scope>planktos/i/<sha256>.json             the tables lookups fetched (js/sw/tables.js)
// Navigations revalidate it network first (1.5 s timeout, then the last good copy). Lookups
// go through the snapshot's tables: a table is fetched on first need, checked, kept.
// A site that removed Planktos by deleting `planktos/` and `planktos.sw.js` (instead of
// building with --uninstall) answers both with 404 or 410: that reads as the kill switch
// (`REMOVED`). A network error or any other status (5xx: the origin is down or failing, a 404
// of the manifest alone: a deploy half done) keeps the last good copy.

import { manifestKey } from "./routing.js";
import { isUsableManifest } from "./snapshots.js";
import { leafView, Tables, walkNow } from "./tables.js";

export const CACHE = "planktos-v1";
const TIMEOUT_MS = 1500;
const SAVE_DELAY_MS = 500;
/** What revalidation gives once the site removed Planktos: handled as the kill switch. */
export const REMOVED = Object.freeze({ uninstalled: true, removed: true });
/** Statuses that say a file was deleted, not that the server is failing. */
const isGone = (status) => status === 404 || status === 410;

export class ManifestSource {
  constructor(scope, snapshots, { timeoutMs = TIMEOUT_MS, scriptUrl = new URL("planktos.sw.js", scope).href } = {}) {
    this.url = new URL("planktos/manifest.json", scope).href;
    this.scriptUrl = scriptUrl; // this worker's own script
    this.stateUrl = new URL("planktos/sw-state.json", scope).href;
    this.snapshots = snapshots;
    this.timeoutMs = timeoutMs;
    this.loaded = false; // state restored from Cache Storage (or nothing to restore)
    this.loading = null;
    this.inflight = null;
    this.etag = null; // of the current manifest's last response: a 304 needs no parse
    this.saveTimer = null;
    this.tables = new Tables(scope, { open: () => caches.open(CACHE) });
    snapshots.nodeOf = (sha) => this.tables.nodeNow(sha);
  }

  /**
   * The file a scoped path names in snapshot `m`, as far as the tables in memory tell:
   * `{manifest, key}` (`manifest` is the view of the leaf listing it, for `fileInfo()`), null
   * when `m` lists no such file, undefined when a table must be loaded first (use `find`).
   */
  findNow(m, rel) {
    const key = manifestKey(rel);
    const step = key === null ? null : walkNow(m, key, (sha) => this.tables.nodeNow(sha));
    if (step?.missing) return undefined;
    return step ? this.hit(m, key, step) : null;
  }

  /** The file a scoped path names in snapshot `m`, or null; loads the tables it needs. */
  async find(m, rel) {
    const key = manifestKey(rel);
    const step = key === null ? null : await this.tables.walk(m, key);
    return step ? this.hit(m, key, step) : null;
  }

  hit(m, key, step) {
    if (!Object.hasOwn(step.leaf.files, key)) return null;
    if (step.tables.length && this.snapshots.useTables(m.build, step.tables)) this.saveSoon();
    return { manifest: leafView(m, step.leaf), key };
  }

  snapshotUrl(build) {
    return `${this.url}?build=${encodeURIComponent(build)}`;
  }

  /** Restore the snapshots and pins a previous run of the worker saved. */
  ready() {
    this.loading ??= this.restore()
      .catch(() => {})
      .finally(() => {
        this.loaded = true;
      });
    return this.loading;
  }

  async restore() {
    const cache = await caches.open(CACHE);
    const state = await readJson(cache, this.stateUrl);
    const current = await readJson(cache, this.url);
    for (const build of new Set(Object.values(state?.pins ?? {}))) {
      const m = await readJson(cache, this.snapshotUrl(build));
      if (isUsableManifest(m) && !m.uninstalled) this.snapshots.restore(m);
    }
    if (isUsableManifest(current) && !current.uninstalled) {
      this.snapshots.add(current);
      this.etag = state?.etag ?? null;
    }
    this.snapshots.loadPins(state);
  }

  /** The newest manifest: from the network when it answers in time, else the last good one. */
  revalidate() {
    this.inflight ??= this.fetchManifest().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  async fetchManifest() {
    await this.ready();
    try {
      const signal = AbortSignal.timeout(this.timeoutMs);
      const response = await fetch(this.url, { cache: "no-cache", signal });
      if (isGone(response.status) && (await this.scriptGone(signal))) return REMOVED;
      if (!response.ok) throw new Error("manifest: HTTP error");
      const etag = response.headers.get("etag");
      const current = this.snapshots.currentManifest();
      if (current && etag && etag === this.etag) {
        response.body?.cancel().catch(() => {});
        return current;
      }
      const text = await response.text();
      const m = JSON.parse(text);
      if (!isUsableManifest(m)) throw new Error("manifest: unknown format");
      if (m.uninstalled) return m;
      const known = this.snapshots.manifests.has(m.build);
      const kept = this.snapshots.add(m);
      this.etag = etag;
      if (!known) await this.store(text, m.build);
      this.saveSoon();
      return kept;
    } catch {
      return this.snapshots.currentManifest();
    }
  }

  /** Whether the origin answers this worker's own script with 404 or 410 too. */
  async scriptGone(signal) {
    const response = await fetch(this.scriptUrl, { cache: "no-store", signal });
    response.body?.cancel().catch(() => {});
    return isGone(response.status);
  }

  async store(text, build) {
    try {
      const cache = await caches.open(CACHE);
      const headers = { "Content-Type": "application/json" };
      await cache.put(this.url, new Response(text, { headers }));
      await cache.put(this.snapshotUrl(build), new Response(text, { headers }));
    } catch {
      // no Cache Storage or quota: the snapshot lives in memory only
    }
  }

  /** Save pins soon (debounced). */
  saveSoon() {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.save().catch(() => {});
    }, SAVE_DELAY_MS);
  }

  async save() {
    const cache = await caches.open(CACHE);
    const body = JSON.stringify({ ...this.snapshots.state(), etag: this.etag });
    await cache.put(this.stateUrl, new Response(body, { headers: { "Content-Type": "application/json" } }));
  }

  /** Drop pins of clients not in `liveIds` and the snapshots nobody uses any more. */
  async prune(liveIds) {
    const dropped = this.snapshots.prune(liveIds);
    if (!dropped.length) return;
    const cache = await caches.open(CACHE);
    await Promise.all(dropped.map((build) => cache.delete(this.snapshotUrl(build))));
    // Tables no kept snapshot used (a table shared by builds stays).
    const used = this.snapshots.tablesInUse();
    const prefix = new URL("i/", this.url).href;
    for (const request of await cache.keys()) {
      const url = request.url;
      if (url.startsWith(prefix) && !used.has(url.slice(prefix.length).replace(/\.json$/, ""))) await cache.delete(request);
    }
    await this.save();
  }
}

async function readJson(cache, url) {
  try {
    const response = await cache.match(url);
    return response ? await response.json() : null;
  } catch {
    return null;
  }
}

/** Delete every Planktos cache (the kill switch). */
export async function clearCaches() {
  for (const name of await caches.keys()) if (name.startsWith("planktos")) await caches.delete(name);
}
