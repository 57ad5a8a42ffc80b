// The bytes of a small file (no `chunks`): store (f/<sha256>, then its pieces), peers (when
// peers.js says so), origin, each checked against the file's SHA-256 before use.

import { boundaryPieces, storeFilePieces } from "./assemble.js";
import { took, rejected } from "./counters.js";
import { IntegrityError, PEERS_ONLY, piecesOfRange, seedTreeUrl } from "./file.js";
import { hedge } from "./hedge.js";
import { cameOverNetwork, originStream, timingsOf } from "./origin.js";
import { downWaitMs, late, measured, peerReader } from "./peers.js";
import { filePieces, pieceBounds } from "./pieces.js";
import { ChunkReader, readExactly, ShortReadError } from "./reader.js";
import { matchesSha256 } from "./verify.js";

// Small files this worker verified lately, by SHA-256 (most recent last), up to MEMORY_BYTES:
// a store hit costs ≈ 10 ms (OPFS calls and a digest), and a visitor's pages share their style
// sheets, scripts and images. They count as store hits.
const memory = new Map();
const MEMORY_BYTES = 8 << 20;
let held = 0;

/** {bytes, source} of a verified small file; throws IntegrityError when even the origin is wrong. */
export async function smallFile(ctx, file) {
  const found = await find(ctx, file);
  const { sha256 } = file.entry;
  if (!memory.has(sha256)) {
    memory.set(sha256, found.bytes);
    held += found.bytes.byteLength;
    for (const [key, kept] of memory) if (held > MEMORY_BYTES && memory.delete(key)) held -= kept.byteLength;
  }
  return found;
}

async function find(ctx, file) {
  const { entry } = file;
  if (entry.length === 0 && (await matchesSha256(new Uint8Array(), entry.sha256))) {
    return { bytes: new Uint8Array(), source: "store" };
  }
  // A prefetch of a file that is here already: nothing to read (index.js answers 204).
  if (ctx.peersOnly === "file" && (await ctx.store.hasFile(entry.sha256))) throw PEERS_ONLY;
  const known = memory.get(entry.sha256);
  if (known) {
    took(ctx.counters, "store", known.byteLength);
    return { bytes: known, source: "store" };
  }
  const stored = await ctx.store.readFile(entry.sha256);
  if (stored && (await check(ctx, stored, entry, "store"))) {
    ctx.background(storeFilePieces(ctx, file, stored)); // a new info hash for unchanged bytes
    return { bytes: stored, source: "store" };
  }
  if (stored) ctx.background(ctx.store.deleteFile(entry.sha256));

  const fromPieces = await readFromPieces(ctx, file);
  if (fromPieces && (await check(ctx, fromPieces, entry, "store"))) {
    keepFile(ctx, entry, fromPieces);
    return { bytes: fromPieces, source: "store" };
  }

  if (ctx.peersOnly) {
    // A prefetch: peers that hold it within the deadline, or nothing (index.js answers 204).
    const bytes = await readFromPeers(ctx, file, file.deadline);
    if (!bytes) throw PEERS_ONLY;
    keepFile(ctx, entry, bytes);
    return { bytes, source: "peer" };
  }
  // Peers late past their expected time: the origin is asked too, and the first answer wins.
  const peerStop = {};
  const fromPeers = readFromPeers(ctx, file, null, peerStop);
  const originRead = () => {
    const controller = new AbortController();
    return { promise: readFromOrigin(ctx, file, controller.signal), cancel: () => controller.abort() };
  };
  const first = await hedge(fromPeers, ctx.meters.hedgeMs(entry.length, file.deadline), originRead, () => peerStop.cancel?.());
  if (first.primary) {
    keepFile(ctx, entry, first.primary);
    return { bytes: first.primary, source: "peer" };
  }

  let fromOrigin = null;
  try {
    if (first.secondary) fromOrigin = await first.secondary;
    else {
      const got = await originUnlessPeersCome(ctx, file);
      if (got.source === "peer") {
        keepFile(ctx, entry, got.bytes);
        return got;
      }
      fromOrigin = got.bytes;
    }
  } catch (err) {
    if (!(err instanceof ShortReadError)) {
      // The origin is down or failing: peers are what is left, worth waiting for.
      const late = await readFromPeers(ctx, file, downWaitMs(file));
      if (late) {
        keepFile(ctx, entry, late);
        return { bytes: late, source: "peer" };
      }
      throw err;
    }
  }
  // The HTTP cache's copy may be older than the build: the origin's own, then (changed at its
  // URL since this page's build) its build's web seed tree, which still has it.
  // Each copy is checked once: a check counts the bytes taken.
  let ok = Boolean(fromOrigin) && (await check(ctx, fromOrigin, entry, "origin"));
  if (fromOrigin && !ok) {
    fromOrigin = await readFromOrigin(ctx, file, null, "no-cache").catch(() => null);
    ok = Boolean(fromOrigin) && (await check(ctx, fromOrigin, entry, "origin"));
  }
  if (!ok) {
    const seed = seedTreeUrl(file, ctx.scope);
    fromOrigin = seed && (await readFromOrigin(ctx, { ...file, url: seed }, null, "no-cache").catch(() => null));
    if (!fromOrigin || !(await check(ctx, fromOrigin, entry, "origin"))) throw new IntegrityError(file.key);
  }
  // Pieces after the file's own f/ write (writes are queued in order): of two neighbours
  // fetched at once, the later one's assembly finds the other in f/.
  // Then the pieces it shares with its neighbours, for the agent to check and seed.
  const range = async (f, start, end) => {
    const stream = await originStream(new URL(f.key, ctx.scope).href, start, end, f.length);
    const got = await readExactly(stream, end - start + 1);
    took(ctx.counters, "origin", got.byteLength);
    return got;
  };
  ctx.background(
    keepFile(ctx, entry, fromOrigin)
      .then(() => storeFilePieces(ctx, file, fromOrigin))
      .then(() => boundaryPieces(ctx, file, fromOrigin, (f, s, e) => range(f, s, e).catch(() => null))),
  );
  return { bytes: fromOrigin, source: "origin" };
}

async function check(ctx, bytes, entry, source) {
  if (bytes.byteLength === entry.length && (await matchesSha256(bytes, entry.sha256))) {
    took(ctx.counters, source, bytes.byteLength);
    return true;
  }
  rejected(ctx.counters, source, bytes.byteLength);
  return false;
}

function keepFile(ctx, entry, bytes) {
  const written = ctx.store.writeFile(entry.sha256, bytes, ctx.keep);
  ctx.background(written);
  return written;
}

/** The file cut out of the stored pieces of its shard, or null when one is missing. */
async function readFromPieces(ctx, file) {
  const { entry, shard } = file;
  const pl = shard.piece_length;
  const { first, last } = filePieces(entry.offset, entry.length, pl);
  const out = new Uint8Array(entry.length);
  for (let i = first; i <= last; i++) {
    const piece = await ctx.store.readPiece(shard.infohash, i);
    const bounds = pieceBounds(i, pl, shard.length);
    if (!piece || piece.byteLength !== bounds.end - bounds.start) return null;
    const from = Math.max(entry.offset, bounds.start);
    const to = Math.min(entry.offset + entry.length, bounds.end);
    out.set(piece.subarray(from - bounds.start, to - bounds.start), from - entry.offset);
  }
  return out;
}

/** Files smaller than this are left to the origin once it was asked: they arrive too soon. */
export const OVERTAKE_BYTES = 64 * 1024;

/**
 * {bytes, source} of the file: from the origin (unchecked), unless the agent's connected peers
 * come to hold it while the origin is still sending; then from them too, and the first copy
 * that arrives (a peer's verified) wins, the other is cancelled. A page's agent starts with
 * its page and gets its first peer a few hundred ms after the page asked for its files; a
 * congested origin takes longer than that to send a large image (issue 11: in the crowd
 * benchmark every image of a visitor's first controlled page came from the origin).
 */
async function originUnlessPeersCome(ctx, file) {
  const { entry, shard } = file;
  const controller = new AbortController();
  const origin = readFromOrigin(ctx, file, controller.signal);
  if (entry.length < OVERTAKE_BYTES || ctx.meters.coolingDown()) return { bytes: await origin, source: "origin" };
  const { first, last } = piecesOfRange(file, 0, entry.length - 1);
  const stop = {};
  const peers = () => ({
    promise: readFromPeers(ctx, file, null, stop).then((bytes) => bytes ?? Promise.reject()),
    cancel: () => stop.cancel(false), // not late: they started late
  });
  // (Its watch ends with the deadline: a closure per large origin read, for 2.5 s.)
  const came = ctx.agent.whenHolds(shard.infohash, first, last, file.deadline);
  const got = await hedge(origin.catch(() => null), came, peers, () => controller.abort());
  if (got.primary) return { bytes: got.primary, source: "origin" };
  const bytes = await got.secondary?.catch(() => null);
  // Without the peers' copy, the origin's (or its error).
  return bytes ? { bytes, source: "peer" } : { bytes: await origin, source: "origin" };
}

/**
 * The file's bytes from peers, verified, or null; `stop.cancel(slow)` abandons the read
 * (`slow`, the default: the peers were outrun by the origin, a reason to avoid them a while).
 * Bad bytes make the worker avoid peers a while.
 */
async function readFromPeers(ctx, file, waitMs = null, stop = {}) {
  const { length } = file.entry;
  // A whole small file within the owner's deadline: a peer sending a byte now and then
  // would otherwise hold the page for as long as it likes.
  const peers = await peerReader(ctx, file, 0, length - 1, waitMs, { totalMs: waitMs ?? file.deadline });
  if (!peers) return null;
  let outrun = false; // the origin's copy came first (hedge.js): the peers were late too
  stop.cancel = (slow = true) => {
    outrun = slow;
    peers.reader.cancel();
  };
  try {
    const bytes = await peers.reader.take(length);
    measured(ctx.meters.peers, peers.reader, length, peers.asked);
    if (await check(ctx, bytes, file.entry, "peer")) return bytes;
    ctx.meters.peerFailed();
    return null;
  } catch (err) {
    if (outrun || late(err)) ctx.meters.peerFailed();
    return null; // late, stalled, short: the origin it is
  } finally {
    peers.reader.cancel();
  }
}

async function readFromOrigin(ctx, file, signal, cache = "default") {
  const { length } = file.entry;
  const asked = Date.now();
  const before = timingsOf(file.url);
  const stream = await originStream(file.url, 0, length - 1, length, { cache, signal });
  const reader = new ChunkReader(stream);
  try {
    const bytes = await reader.take(length);
    const firstMs = (reader.firstAt ?? Date.now()) - asked;
    const totalMs = Date.now() - asked;
    // A body the HTTP cache gave after a 304 says how soon the origin answers, not how fast
    // it sends: it counts as a read of no bytes.
    const meter = ctx.meters.origin;
    const sample = (net) => meter.record(net ? length : 0, firstMs, totalMs);
    ctx.background(cameOverNetwork(file.url, before).then((net) => net === null || sample(net)));
    return bytes;
  } finally {
    reader.cancel();
  }
}
