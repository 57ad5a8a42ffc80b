// One manifest entry with everything needed to fetch and check it. Pure: importable in Node.

import { pieceCount } from "./pieces.js";
import { deadlineMs } from "./snapshots.js";

export class IntegrityError extends Error {}

/** Thrown for a prefetch (`ctx.peersOnly`) that the store and peers cannot answer: index.js answers 204. */
export const PEERS_ONLY = new Error("peers only");

const HEX64 = /^[0-9a-f]{64}$/i;
const isSize = (n) => Number.isSafeInteger(n) && n >= 0;

/**
 * The file at `key` of `manifest`, its URL resolved against `scope`; throws on an entry that
 * makes no sense. An empty file needs no shard (it is answered without any fetch), so a build
 * may keep empty files out of torrents: WebTorrent asks a web seed for a range of them, which
 * a correct server answers with 416, and the piece holding them never completes.
 */
export function fileInfo(manifest, key, scope) {
  const entry = manifest.files[key];
  const shard = manifest.shards[entry?.shard];
  if (!entry || (!shard && entry.length !== 0)) throw new TypeError(key);
  const { length, offset = 0, chunks } = entry;
  const pl = shard?.piece_length ?? 1;
  const id = chunks === undefined ? entry.sha256 : entry.chunks_sha256;
  if (!isSize(length) || !isSize(offset) || !HEX64.test(id) || !(isSize(pl) && pl > 0)) {
    throw new TypeError(key);
  }
  if (chunks !== undefined) {
    const ok = Array.isArray(chunks) && offset === 0 && chunks.length === pieceCount(length, pl);
    if (!ok || !chunks.every((c) => HEX64.test(c))) throw new TypeError(key);
  }
  return {
    key,
    entry,
    shard,
    manifest,
    large: chunks !== undefined && length > 0,
    url: new URL(key, scope).href,
    deadline: deadlineMs(manifest),
  };
}

/** The agent's read request for file bytes start..end (inclusive); URLs as in the manifest. */
export function agentRequest(file, start, end) {
  return {
    infohash: file.shard.infohash,
    torrent: file.shard.torrent,
    index: file.entry.index,
    start,
    end,
  };
}

/** Torrent pieces holding bytes start..end (inclusive) of `file`. */
export function piecesOfRange(file, start, end) {
  const pl = file.shard.piece_length;
  const at = file.entry.offset ?? 0;
  return { first: Math.floor((at + start) / pl), last: Math.floor((at + end) / pl) };
}

/**
 * The URL of a file of a multi-file shard in its web seed tree (`planktos/w/…`, kept for the
 * build's lifetime and the next), or null: the bytes of a pinned build after its file changed
 * at its own URL. Segments as `planktos build` names them (src/planktos/urls.py seed_segment).
 */
export function seedTreeUrl(file, scope) {
  const { webseed } = file.shard;
  if (!webseed?.endsWith("/")) return null;
  const seg = (s) =>
    /^[A-Za-z0-9._-]+$/.test(s) && s !== "." && s !== ".."
      ? s
      : encodeURIComponent(s).replace(/[!'()*~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase()).replace(/%/g, "~");
  const path = decodeURIComponent(file.key).split("/").map(seg).join("/");
  return new URL(`${webseed}${file.entry.shard}/${path}`, scope).href;
}
