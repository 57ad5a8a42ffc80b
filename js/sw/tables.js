// The file tables of manifest version 2 (README, "Manifest format"). Importable in Node (the
// network, Cache Storage and the digest are passed in).
//
// The top level's `index` is the root of a tree over the manifest keys (percent-encoded
// paths, compared as ASCII strings): a leaf `{files, shards}`, or an inner node `{tables:
// [[first key, sha256], ...]}` whose children are published at `<base><tables><sha256>.json`.
// A table is fetched when a lookup first needs it, checked against the SHA-256 its parent
// gives (so every file hash in it is authenticated by the top level), kept in Cache Storage
// under its URL (immutable: its name is its hash) and in memory.

import { sha256Hex } from "./verify.js";

const MEMORY_NODES = 256;

export const isLeaf = (node) => isObject(node) && isObject(node.files) && isObject(node.shards);
export const isInner = (node) => isObject(node) && Array.isArray(node.tables);
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const HEX64 = /^[0-9a-f]{64}$/;

/** The SHA-256 of the child of `inner` whose range holds `key`, or null (before the first). */
export function childFor(inner, key) {
  const t = inner.tables;
  let lo = 0;
  let hi = t.length; // the answer is the last child whose first key is <= key
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (t[mid][0] <= key) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? null : t[lo - 1][1];
}

/**
 * What `key` resolves to in `manifest` with the tables at hand: `{leaf, tables}` (the leaf
 * that would list it, and the hashes of the tables on the way), or `{missing: sha}` (a table
 * to load first), or null (no such key can be listed).
 */
export function walkNow(manifest, key, nodeOf) {
  let node = manifest.index;
  const path = [];
  while (!isLeaf(node)) {
    if (!isInner(node)) return null;
    const sha = childFor(node, key);
    if (sha === null) return null;
    path.push(sha);
    node = nodeOf(sha);
    if (!node) return { missing: sha, tables: path };
  }
  return { leaf: node, tables: path };
}

const views = new WeakMap(); // manifest -> WeakMap(leaf -> view)

/**
 * A leaf seen from one snapshot: `{build, runtime, files, shards}`, what `fileInfo()` and the
 * shard assembly read. Stable per (manifest, leaf), so per-view caches keep working.
 */
export function leafView(manifest, leaf) {
  let byLeaf = views.get(manifest);
  if (!byLeaf) views.set(manifest, (byLeaf = new WeakMap()));
  let view = byLeaf.get(leaf);
  if (!view) {
    view = { build: manifest.build, runtime: manifest.runtime, files: leaf.files, shards: leaf.shards };
    byLeaf.set(leaf, view);
  }
  return view;
}

export class Tables {
  /**
   * `scope`: the site base; `open()`: resolves to the Cache Storage cache (or rejects: memory
   * only); `fetchImpl`: the network.
   */
  constructor(scope, { open, fetchImpl = (url) => fetch(url) } = {}) {
    this.scope = scope;
    this.open = open ?? (() => Promise.reject(new Error("no cache")));
    this.fetchImpl = fetchImpl;
    this.nodes = new Map(); // sha -> node, oldest first
    this.loading = new Map(); // sha -> promise of the node
  }

  /** The URL of a table of `manifest`. */
  url(manifest, sha) {
    const dir = typeof manifest.tables === "string" ? manifest.tables : "planktos/i/";
    return new URL(`${dir}${sha}.json`, this.scope).href;
  }

  nodeNow(sha) {
    return this.nodes.get(sha);
  }

  /** The node of table `sha`: memory, else Cache Storage, else the network; checked. */
  load(manifest, sha) {
    const known = this.nodes.get(sha);
    if (known) return Promise.resolve(known);
    let p = this.loading.get(sha);
    if (!p) {
      p = this.fetchNode(this.url(manifest, sha), sha).finally(() => this.loading.delete(sha));
      this.loading.set(sha, p);
    }
    return p;
  }

  async fetchNode(url, sha) {
    if (!HEX64.test(sha)) throw new TypeError("manifest table: bad name");
    const cache = await this.open().catch(() => null);
    let bytes = null;
    const kept = await cache?.match(url).catch(() => null);
    if (kept) {
      bytes = new Uint8Array(await kept.arrayBuffer());
      if ((await sha256Hex(bytes)) !== sha) bytes = null; // damaged: fetch it again
    }
    if (!bytes) {
      const response = await this.fetchImpl(url);
      if (!response.ok) throw new Error(`manifest table: HTTP ${response.status}`);
      bytes = new Uint8Array(await response.arrayBuffer());
      if ((await sha256Hex(bytes)) !== sha) throw new Error("manifest table: SHA-256 mismatch");
      const headers = { "Content-Type": "application/json" };
      await cache?.put(url, new Response(bytes, { headers })).catch(() => {});
    }
    const node = JSON.parse(new TextDecoder().decode(bytes));
    if (!isLeaf(node) && !isInner(node)) throw new TypeError("manifest table: neither leaf nor inner node");
    this.remember(sha, node);
    return node;
  }

  remember(sha, node) {
    this.nodes.delete(sha);
    this.nodes.set(sha, node);
    while (this.nodes.size > MEMORY_NODES) this.nodes.delete(this.nodes.keys().next().value);
  }

  /**
   * The leaf of `manifest` for `key` ({leaf, tables}) or null, loading tables as needed.
   * Rejects when a table cannot be had (network, digest): the caller then asks the origin.
   */
  async walk(manifest, key) {
    for (let depth = 0; depth < 32; depth++) {
      const step = walkNow(manifest, key, (sha) => this.nodeNow(sha));
      if (!step?.missing) return step;
      await this.load(manifest, step.missing);
    }
    throw new Error("manifest tables: too deep");
  }
}
