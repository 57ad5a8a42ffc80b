// The store layout of docs/runtime.md (in OPFS, else IndexedDB: js/common/idb-dir.js): planktos-v1/{p/<infohash>/<piece>,
// t/<infohash>.torrent, meta.json}. Small async helpers; every write goes through createWritable(), which
// commits atomically on close(), so a file is either whole or absent.

import { storageRoot } from "../common/idb-dir.js";
import { writeWhole } from "../common/opfs-write.js";
import { evictionOrder } from "./eviction.js";
import { pieceIndexOf } from "./pieces.js";

const ROOT = "planktos-v1";
let rootPromise = null;
// Infohashes of the current manifest: evicted last.
let current = new Set();

export const setCurrentInfohashes = (infohashes) => {
  current = new Set(infohashes);
};

/** The store's root directory handle (created on first use). */
export function root() {
  rootPromise ??= storageRoot().then((top) => top.getDirectoryHandle(ROOT, { create: true }));
  rootPromise.catch(() => {
    rootPromise = null;
  });
  return rootPromise;
}

/** A subdirectory of the root by path segments, or null if absent and `create` is false. */
export async function dir(segments, create = false) {
  let handle = await root();
  for (const name of segments) {
    try {
      handle = await handle.getDirectoryHandle(name, { create });
    } catch (err) {
      if (err?.name === "NotFoundError") return null;
      throw err;
    }
  }
  return handle;
}

/** The File at `name` in a directory handle, or null. */
export async function readFile(directory, name) {
  try {
    return await (await directory.getFileHandle(name)).getFile();
  } catch (err) {
    if (err?.name === "NotFoundError" || err?.name === "TypeError") return null;
    throw err;
  }
}

/** Write `bytes` to `name` atomically; on a full quota evict (see `evict`) and retry once. */
export async function writeFile(directory, name, bytes, infohash = null) {
  try {
    await writeWhole(directory, name, bytes);
  } catch (err) {
    if (err?.name !== "QuotaExceededError") throw err;
    await evict(bytes.byteLength, infohash);
    await writeWhole(directory, name, bytes);
  }
}

// Pieces known to be whole, by infohash: written by an agent or seen non-empty before. A
// listing asks the size of the other entries only (one round trip to the browser process
// each: listing the demo's 164 pieces on every page, and a video's 75 again on every
// `stored` message and read, was the agent's largest store cost). Kept in localStorage
// (`planktos-whole:<infohash>`, indexes joined by commas), since every page runs its own
// agent. A piece is never rewritten with other bytes; it goes with its directory (eviction),
// and only names a listing finds count: the one case this misjudges is a piece evicted and
// being written again at the moment of the listing, whose read fails if that write does
// (the worker then takes the origin).
const whole = new Map(); // infohash → Set of piece indexes
const KEPT = "planktos-whole:";
let saving = null;

function knownOf(infohash) {
  let known = whole.get(infohash);
  if (!known) {
    known = new Set();
    try {
      for (const s of (localStorage.getItem(KEPT + infohash) ?? "").split(",")) {
        if (pieceIndexOf(s) !== null) known.add(Number(s));
      }
    } catch {
      // no localStorage: sizes are asked again
    }
    whole.set(infohash, known);
  }
  return known;
}

function saveKnown() {
  saving = null;
  for (const [infohash, known] of whole) {
    try {
      if (known.size) localStorage.setItem(KEPT + infohash, [...known].join(","));
      else localStorage.removeItem(KEPT + infohash);
    } catch {
      return;
    }
  }
}

const saveSoon = () => {
  saving ??= setTimeout(saveKnown, 1000);
};

/** Note that piece `index` of an infohash is stored whole (true) or no longer stored (false). */
export function knownWhole(infohash, index, stored = true) {
  if (stored) knownOf(infohash).add(index);
  else knownOf(infohash).delete(index);
  saveSoon();
}

/** Indexes of the pieces stored for an infohash. */
export async function storedPieces(infohash) {
  const pieces = await dir(["p", infohash]);
  const out = [];
  const known = knownOf(infohash);
  if (!pieces) {
    if (known.size) saveSoon();
    known.clear();
    return out;
  }
  const listed = new Set();
  let added = false;
  for await (const [name, handle] of pieces.entries()) {
    const index = pieceIndexOf(name);
    if (index === null || handle.kind !== "file") continue;
    listed.add(index);
    if (known.has(index)) {
      out.push(index);
    } else if ((await handle.getFile()).size > 0) {
      // An empty entry is a write that never finished (no piece is empty): not stored.
      known.add(index);
      added = true;
      out.push(index);
    }
  }
  for (const index of known) {
    if (!listed.has(index)) {
      known.delete(index); // evicted
      added = true;
    }
  }
  if (added) saveSoon();
  return out;
}

/** Infohashes with a piece directory in the store. */
export async function storedInfohashes() {
  const pieces = await dir(["p"]);
  const out = [];
  if (!pieces) return out;
  for await (const [name, handle] of pieces.entries()) {
    if (handle.kind === "directory" && /^[0-9a-f]{40}$/.test(name)) out.push(name);
  }
  return out;
}

/** Parse a small JSON file of the root, or return `fallback`. */
export async function readJson(name, fallback) {
  try {
    const file = await readFile(await root(), name);
    if (!file) return fallback;
    const value = JSON.parse(await file.text());
    return value && typeof value === "object" ? value : fallback;
  } catch {
    return fallback;
  }
}

export async function writeJson(name, value) {
  await writeFile(await root(), name, new TextEncoder().encode(JSON.stringify(value)));
}

// Last-use times (meta.json, shared with the service worker: {"version": 1, "used":
// {"p/<infohash>": ms}}) are batched: one write per second at most.
const touched = new Map();
let flushTimer = null;

/** Last-use times by infohash, from meta.json. */
export async function lastUse() {
  const meta = await readJson("meta.json", {});
  const out = {};
  for (const [unit, when] of Object.entries(meta.used ?? {})) {
    if (unit.startsWith("p/") && typeof when === "number") out[unit.slice(2)] = when;
  }
  return out;
}

/** Record that an infohash was used now. */
export function touch(infohash) {
  touched.set(infohash, Date.now());
  flushTimer ??= setTimeout(flushTouched, 1000);
}

async function flushTouched() {
  flushTimer = null;
  const updates = new Map(touched);
  touched.clear();
  try {
    const meta = await readJson("meta.json", {});
    const used = meta.version === 1 && meta.used && typeof meta.used === "object" ? meta.used : {};
    for (const [ih, when] of updates) used[`p/${ih}`] = Math.max(used[`p/${ih}`] ?? 0, when);
    await writeJson("meta.json", { version: 1, used });
  } catch {
    // Eviction order only: a lost update is harmless.
  }
}

/** Delete everything stored for an infohash. */
export async function removeInfohash(infohash) {
  const pieces = await dir(["p"]);
  knownOf(infohash).clear();
  saveSoon();
  await pieces?.removeEntry(infohash, { recursive: true }).catch(() => {});
  const torrents = await dir(["t"]);
  await torrents?.removeEntry(`${infohash}.torrent`).catch(() => {});
}

/**
 * Make room for `needed` bytes: delete infohash directories in eviction order (not in the
 * current manifest first, then least recently used) until the quota estimate leaves room for
 * four times `needed`, or nothing is left to delete but `writing`.
 */
export async function evict(needed, writing = null) {
  const order = evictionOrder(await storedInfohashes(), await lastUse(), current, writing);
  for (const ih of order) {
    await removeInfohash(ih);
    const { usage = 0, quota = Infinity } = await navigator.storage.estimate().catch(() => ({}));
    if (usage + 4 * needed < quota) return;
  }
}
