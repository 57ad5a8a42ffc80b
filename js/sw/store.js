// The OPFS store of docs/runtime.md, version 1:
//   planktos-v1/p/<infohash>/<piece index>   one verified piece (written by the agent and by us)
//   planktos-v1/f/<sha256>                   one verified small file
//   planktos-v1/meta.json                    {"version": 1, "used": {"p/<infohash>"|"f/<sha256>": ms}}
// Writes go through createWritable(), which commits on close(): an entry is whole or absent.
// On QuotaExceededError the least recently used entries (those no kept snapshot needs first)
// are deleted and the write is retried once. Nothing here throws to callers: a store that
// fails is a store that misses.

import { writeWhole } from "../common/opfs-write.js";

const DIR = "planktos-v1";
const META = "meta.json";
const META_DELAY_MS = 1000;

export class Store {
  /** `getRoot` returns the store root: OPFS, else its IndexedDB stand-in (common/idb-dir.js). */
  constructor(getRoot, { now = Date.now, slack = 64 * 1024 } = {}) {
    this.getRoot = getRoot;
    this.now = now;
    this.slack = slack; // bytes freed beyond twice the write (its swap file and a margin)
    this.dir = null;
    // Directory handles by "p", "p/<infohash>", "f": walking the path again on every read and
    // write cost two round trips to the browser process each (docs/runtime.md, "CPU"). A
    // handle whose directory was deleted since (eviction, here or by the agent) fails with
    // NotFoundError: a write then walks the path again, and a failed listing forgets the
    // handles. Reads do not: there NotFoundError is mostly the file missing, and a piece is
    // read only after a listing of its directory.
    this.dirs = new Map();
    this.meta = null; // {version, used}
    this.metaTimer = null;
    this.writes = Promise.resolve(); // one write at a time
    this.queued = 0; // bytes waiting in `writes`
  }

  async base() {
    if (!this.dir) {
      const root = await this.getRoot();
      this.dir = await root.getDirectoryHandle(DIR, { create: true });
    }
    return this.dir;
  }

  async folder(kind, name, create = false) {
    let got = this.dirs.get(kind + name);
    if (!got) {
      got = await (await this.base()).getDirectoryHandle(kind, { create });
      if (name) got = await got.getDirectoryHandle(name, { create });
      this.dirs.set(kind + name, got);
    }
    return got;
  }

  async read(dirPromise, name) {
    try {
      const handle = await (await dirPromise).getFileHandle(name);
      const bytes = new Uint8Array(await (await handle.getFile()).arrayBuffer());
      return bytes.length ? bytes : null; // empty: a write that never finished
    } catch {
      return null;
    }
  }

  /** A piece's bytes, or null when absent. */
  readPiece(infohash, index) {
    return this.hit(`p/${infohash}`, this.read(this.folder("p", infohash), String(index)));
  }

  /** The indexes of the stored pieces of a torrent (an empty set when none or no store). */
  async pieceIndexes(infohash) {
    const found = new Set();
    try {
      for await (const name of (await this.folder("p", infohash)).keys()) {
        if (/^(0|[1-9][0-9]*)$/.test(name)) found.add(Number(name));
      }
    } catch {
      this.dirs.clear(); // nothing stored for it, or a stale handle
    }
    return found;
  }

  /** Whether a small file is stored, without reading it (a prefetch skips what is here). */
  hasFile(sha256) {
    return this.folder("f").then((d) => d.getFileHandle(sha256)).then(() => true, () => false);
  }

  /** A small file's bytes by SHA-256, or null. */
  readFile(sha256) {
    return this.hit(`f/${sha256}`, this.read(this.folder("f"), sha256));
  }

  async hit(unit, reading) {
    const bytes = await reading;
    if (bytes) this.touch(unit);
    return bytes;
  }

  /** Store a verified piece; `keep()` gives what eviction spares first. Resolves to success. */
  writePiece(infohash, index, bytes, keep) {
    return this.queue(`p/${infohash}`, ["p", infohash], String(index), bytes, keep);
  }

  writeFile(sha256, bytes, keep) {
    return this.queue(`f/${sha256}`, ["f"], sha256, bytes, keep);
  }

  async deleteFile(sha256) {
    try {
      await (await this.folder("f")).removeEntry(sha256);
    } catch {
      // already gone
    }
  }

  queue(unit, folder, name, bytes, keep) {
    this.queued += bytes.byteLength;
    const job = this.writes.then(() => this.write(unit, folder, name, bytes, keep));
    this.writes = job.catch(() => false).finally(() => {
      this.queued -= bytes.byteLength;
    });
    return this.writes;
  }

  async write(unit, [kind, folder], name, bytes, keep) {
    this.touch(unit);
    for (let attempt = 0; ; attempt++) {
      try {
        await writeWhole(await this.folder(kind, folder, true), name, bytes);
        return true;
      } catch (err) {
        // Once more: after eviction when the quota is full; with the path walked again when a
        // kept handle was stale (its directory deleted).
        this.dirs.clear();
        if (attempt > 0) return false;
        if (err?.name === "QuotaExceededError") await this.evict(keep?.() ?? {}, 2 * bytes.byteLength + this.slack, unit);
      }
    }
  }

  /** Delete whole entries, in eviction order, until `need` bytes are freed. Returns bytes freed. */
  async evict({ infohashes = new Set(), files = new Set() }, need, spare) {
    const meta = await this.loadMeta();
    const units = [];
    for (const [kind, kept] of [["p", infohashes], ["f", files]]) {
      let top;
      try {
        top = await this.folder(kind);
      } catch {
        continue;
      }
      for await (const [name, handle] of top.entries()) {
        const unit = `${kind}/${name}`;
        if (unit !== spare) units.push({ unit, kind, name, handle, kept: kept.has(name) });
      }
    }
    let freed = 0;
    for (const u of evictionOrder(units, meta.used)) {
      if (freed >= need) break;
      try {
        freed += await sizeOf(u.handle);
        await (await this.folder(u.kind)).removeEntry(u.name, { recursive: true });
        this.dirs.clear();
        delete meta.used[u.unit];
      } catch {
        // in use or gone: try the next one
      }
    }
    this.saveMetaSoon();
    return freed;
  }

  /** Remember that an entry was used now (saved to meta.json shortly after). */
  touch(unit) {
    this.loadMeta()
      .then((meta) => {
        meta.used[unit] = this.now();
        this.saveMetaSoon();
      })
      .catch(() => {});
  }

  async loadMeta() {
    if (!this.meta) {
      const bytes = await this.read(this.base(), META);
      let meta = null;
      try {
        meta = bytes && JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        meta = null;
      }
      if (!this.meta) this.meta = meta?.version === 1 && meta.used ? meta : { version: 1, used: {} };
    }
    return this.meta;
  }

  saveMetaSoon() {
    if (this.metaTimer) return;
    this.metaTimer = setTimeout(() => {
      this.metaTimer = null;
      this.flushMeta().catch(() => {});
    }, META_DELAY_MS);
  }

  async flushMeta() {
    if (!this.meta) return;
    const bytes = new TextEncoder().encode(JSON.stringify(this.meta));
    await writeWhole(await this.base(), META, bytes);
  }

  /** Delete everything Planktos stored (the kill switch). */
  async clear() {
    clearTimeout(this.metaTimer);
    this.metaTimer = null;
    this.meta = null;
    this.dir = null;
    this.dirs.clear();
    try {
      await (await this.getRoot()).removeEntry(DIR, { recursive: true });
    } catch {
      // nothing stored
    }
  }
}

/** Entries no kept snapshot needs first, then least recently used first. Pure. */
export function evictionOrder(units, used) {
  const at = (u) => used[u.unit] ?? 0;
  return [...units].sort((a, b) => a.kept - b.kept || at(a) - at(b));
}

async function sizeOf(handle) {
  if (handle.kind === "file") return (await handle.getFile()).size;
  let total = 0;
  for await (const child of handle.values()) total += await sizeOf(child);
  return total;
}
