// Pieces of a multi-file shard that the service worker can vouch for without SHA-1: a piece
// every byte of which belongs to files verified by SHA-256 (the file just fetched, the others
// from f/<sha256>). Written to p/<infohash>/ so the agent seeds what the SW took from the
// origin: browsing in one tab, the agent of the page being left is gone and the next page's
// is not started yet, so the SW fetches most files itself.

import { filePieces, pieceBounds } from "./pieces.js";
import { matchesSha256 } from "./verify.js";

const byShard = new WeakMap(); // manifest -> Map(shard id -> entries sorted by offset)
const assembled = new Set(); // "<infohash>/<file index>" done by this worker: not again on each hit

/** The entries of a shard's files (each with its `key`), ordered by offset. Pure. */
export function filesOfShard(manifest, shardId) {
  let table = byShard.get(manifest);
  if (!table) {
    table = new Map();
    for (const [key, entry] of Object.entries(manifest.files)) {
      if (!table.has(entry.shard)) table.set(entry.shard, []);
      table.get(entry.shard).push({ ...entry, key });
    }
    for (const list of table.values()) list.sort((a, b) => a.offset - b.offset || a.index - b.index);
    byShard.set(manifest, table);
  }
  return table.get(shardId) ?? [];
}

/**
 * Whether `entries` (overlapping [start, end), by offset) fill it without a gap: with manifest
 * tables a snapshot may not list every file of a shard, and a piece with an unlisted part is
 * nothing the worker can vouch for. Pure.
 */
export function fills(entries, start, end) {
  let at = start;
  for (const e of entries) {
    if (e.offset > at) return false;
    at = Math.max(at, e.offset + e.length);
  }
  return at >= end;
}

/** The non-empty entries overlapping torrent bytes [start, end). Pure. */
export function overlapping(entries, start, end) {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (entries[mid].offset + entries[mid].length <= start) lo = mid + 1;
    else hi = mid;
  }
  const out = [];
  for (let i = lo; i < entries.length && entries[i].offset < end; i++) {
    if (entries[i].length > 0 && entries[i].offset + entries[i].length > start) out.push(entries[i]);
  }
  return out;
}

/**
 * The pieces `file` shares with its neighbours, when not stored: assembled from `bytes` (the
 * file, verified), the neighbours' bytes in f/, and ranges `fetchRange(entry, start, end)`
 * (inclusive) of the others from the origin, and handed to the agent, which stores only what
 * matches the torrent's SHA-1 (`{type: "piece"}`): a visitor seeds whole pieces only, and a
 * small file's boundary pieces are otherwise never whole in its store. At most the two
 * boundary pieces per file (DESIGN.md, invariant 4), and only when the ranges to fetch come to
 * at most a quarter of the file, or the file is a page.
 */
export async function boundaryPieces(ctx, file, bytes, fetchRange) {
  const { entry, shard, manifest } = file;
  const pl = shard.piece_length;
  const { first, last } = filePieces(entry.offset, entry.length, pl);
  const stored = await ctx.store.pieceIndexes(shard.infohash);
  const plans = [];
  let fetched = 0;
  for (const i of new Set([first, last])) {
    if (stored.has(i)) continue;
    const b = pieceBounds(i, pl, shard.length);
    const parts = overlapping(filesOfShard(manifest, entry.shard), b.start, b.end);
    if (!fills(parts, b.start, b.end)) continue;
    const plan = [];
    for (const f of parts) {
      const from = Math.max(f.offset, b.start) - f.offset;
      const to = Math.min(f.offset + f.length, b.end) - f.offset;
      const whole = f.sha256 === entry.sha256 ? bytes : await ctx.store.readFile(f.sha256);
      if (whole?.byteLength !== f.length) fetched += to - from;
      plan.push({ f, from, to, whole: whole?.byteLength === f.length ? whole : null });
    }
    plans.push({ i, b, plan });
  }
  // Seeding a small file is not worth fetching more than a quarter of it again; a page is
  // (with the origin down, a page no peer can serve cannot be reached at all).
  if (fetched > entry.length / 4 && !entry.type?.startsWith("text/html")) return;
  for (const { i, b, plan } of plans) {
    const piece = new Uint8Array(b.end - b.start);
    for (const { f, from, to, whole } of plan) {
      const part = whole ? whole.subarray(from, to) : await fetchRange(f, from, to - 1);
      if (part?.byteLength !== to - from) return;
      piece.set(part, f.offset + from - b.start);
    }
    ctx.agent.piece({ infohash: shard.infohash, torrent: shard.torrent, index: i, bytes: piece });
  }
}

/** Write the missing pieces covering `file` that verified files fill completely. */
export async function storeFilePieces(ctx, file, bytes) {
  const { entry, shard, manifest } = file;
  const done = `${shard?.infohash}/${entry.index}`;
  if (entry.length === 0 || assembled.has(done)) return;
  const pl = shard.piece_length;
  const { first, last } = filePieces(entry.offset, entry.length, pl);
  const stored = await ctx.store.pieceIndexes(shard.infohash);
  const entries = filesOfShard(manifest, entry.shard);
  const verified = new Map([[entry.sha256, bytes]]);
  for (let i = first; i <= last; i++) {
    if (stored.has(i)) continue;
    const b = pieceBounds(i, pl, shard.length);
    const piece = new Uint8Array(b.end - b.start);
    const parts = overlapping(entries, b.start, b.end);
    let complete = fills(parts, b.start, b.end);
    for (const f of complete ? parts : []) {
      let data = verified.get(f.sha256);
      if (!data) {
        data = await ctx.store.readFile(f.sha256);
        if (!data || data.byteLength !== f.length || !(await matchesSha256(data, f.sha256))) {
          complete = false;
          break;
        }
        verified.set(f.sha256, data);
      }
      const from = Math.max(f.offset, b.start);
      const to = Math.min(f.offset + f.length, b.end);
      piece.set(data.subarray(from - f.offset, to - f.offset), from - b.start);
    }
    if (complete && !(await ctx.store.writePiece(shard.infohash, i, piece, ctx.keep))) return;
  }
  assembled.add(done);
  ctx.agent.stored(shard.infohash);
}
