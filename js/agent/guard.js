// Bad peers out, honest counts (DESIGN.md, "bad peer"; docs/runtime.md, "Bad peers").
//
// WebTorrent on a piece that fails its SHA-1 only resets the piece and asks again, the same
// peer included: a peer serving corrupt bytes was asked for the same piece in a loop. Here a
// peer that sent any block of a piece that failed is dropped at once and refused for that
// torrent from then on (by its peer id at the tracker and in its handshake), and the reads that
// only it could serve fail at once, so that the service worker takes those bytes from the
// origin instead of waiting for a stall. A piece whose blocks came from several peers drops
// them all: which one lied cannot be told, and an honest peer lost costs one connection.
//
// Bytes count as from peers only once their piece verified; those of a failed piece count as
// rejected (js/agent/counters.js).

import { peerIdOf, refusePeers } from "./internals.js";

const FAILED = /^Piece (\d+) failed verification$/;

/** The index in a WebTorrent "failed verification" warning, or null. Pure. */
export function failedPiece(err) {
  const m = FAILED.exec(String(err?.message ?? ""));
  return m ? Number(m[1]) : null;
}

/** Whether a wire is a connected peer (not a web seed, not closed). */
const usable = (wire) => wire.type !== "webSeed" && !wire.destroyed;

/**
 * The first piece of first..last that the torrent neither has nor can get from a connected
 * peer, or null when every one is had or held. `torrent`: {bitfield, wires}. Pure.
 */
export function unheldPiece(torrent, first, last) {
  for (let i = first; i <= last; i++) {
    if (torrent.bitfield?.get(i)) continue;
    if (!torrent.wires.some((w) => usable(w) && w.peerPieces?.get(i))) return i;
  }
  return null;
}

/**
 * Watch a torrent (right after `client.add`): count verified and rejected peer bytes into
 * `counters`, drop and refuse peers that sent a bad piece; `onLoss(torrent)` after a peer
 * left or was dropped (reads may have lost their only source).
 */
export function guardTorrent(torrent, counters, onLoss = () => {}) {
  const banned = new Set(); // peer ids
  const received = new Map(); // piece index -> {bytes, wires}: blocks of the current attempt
  refusePeers(torrent, (id) => {
    if (!banned.has(id)) return false;
    counters.peersRefused += 1;
    return true;
  });
  const lost = () => queueMicrotask(() => torrent.destroyed || onLoss(torrent));

  torrent.on("wire", (wire) => {
    if (wire.type === "webSeed") return;
    if (banned.has(wire.peerId)) {
      counters.peersRefused += 1;
      wire.destroy();
      return;
    }
    // Emitted after WebTorrent took the block and before its SHA-1 of the piece is known.
    wire.on("piece", (index, offset, buffer) => {
      let got = received.get(index);
      if (!got) received.set(index, (got = { bytes: 0, wires: new Set() }));
      got.bytes += buffer?.byteLength ?? 0;
      got.wires.add(wire);
    });
    wire.once("close", lost);
  });

  torrent.on("verified", (index) => {
    const got = received.get(index);
    if (!got) return; // a piece the store had
    received.delete(index);
    counters.bytesFromPeers += Math.min(got.bytes, pieceLength(torrent, index)); // no duplicates
  });

  torrent.on("warning", (err) => {
    const index = failedPiece(err);
    if (index === null) return;
    counters.piecesRejected += 1;
    const got = received.get(index);
    received.delete(index);
    if (!got) return;
    counters.bytesRejected += got.bytes;
    for (const wire of got.wires) {
      // libtorrent, for one, sends a new random id in each handshake, and its own in the tracker's.
      for (const id of [wire.peerId, peerIdOf(torrent, wire)]) if (id) banned.add(id);
      if (!wire.destroyed) {
        counters.peersDropped += 1;
        wire.destroy();
      }
    }
    lost();
  });
  return { banned: (id) => banned.has(id) };
}

function pieceLength(torrent, index) {
  const pl = torrent.pieceLength;
  return Math.min(pl, torrent.length - index * pl);
}
