// Tells the service worker which pieces the agent's connected peers hold, per torrent
// (`{type: "peers", infohash, have, settled}`, docs/runtime.md "SW ↔ agent"): the worker sends
// a read to the agent only when a peer holds its pieces, and takes the origin at once
// otherwise. `settled`: the tracker counts no other peer in the swarm, so nothing will come
// until one joins (a prefetch stops waiting). Reported when a peer connects, announces a piece
// or leaves, or the tracker answers an announce, at most every REPORT_MS per torrent.

import { onSwarmCounts } from "./internals.js";

export const REPORT_MS = 50;

/**
 * Whether waiting for peers in a swarm is pointless now: its tracker answered and counted
 * `others` = 0 peers besides this one (undefined: no answer yet). Not "every peer met and none
 * holds it": a Firefox seeder's first bitfield lacked pieces it announced moments later, and
 * prefetches that gave up on it took a second visitor's gallery from the origin
 * (bench/browser_p2p.py, Firefox → Chromium: 1.4 MB of images, 0 before). Pure.
 */
export const isSettled = (others) => others === 0;

/** The union of `bitfields` (Uint8Arrays, most significant bit first) over `bytes` bytes. Pure. */
export function unionOf(bitfields, bytes) {
  const out = new Uint8Array(bytes);
  for (const bits of bitfields) {
    const n = Math.min(bytes, bits?.length ?? 0);
    for (let i = 0; i < n; i++) out[i] |= bits[i];
  }
  return out;
}

/**
 * A wire's `peerPieces` as bitfield bytes: a peer that sent "have all" (BEP 6) has a stand-in
 * whose `get` is always true and whose buffer is empty.
 */
export function bitsOf(peerPieces, bytes) {
  if (!peerPieces) return undefined;
  if (!peerPieces.buffer?.length && peerPieces.get(0)) return new Uint8Array(bytes).fill(0xff);
  return peerPieces.buffer;
}

/** Report the peers' pieces of every torrent of `client` through `post(msg)`. */
export function reportHaves(client, post) {
  const pending = new Set();
  const others = new WeakMap(); // torrent → peers besides this one, as its tracker last counted
  const report = (torrent) => {
    pending.delete(torrent);
    if (torrent.destroyed || !torrent.pieces?.length) return;
    const bytes = Math.ceil(torrent.pieces.length / 8);
    const peers = torrent.wires.filter((w) => w.type !== "webSeed" && !w.destroyed);
    const have = unionOf(peers.map((w) => bitsOf(w.peerPieces, bytes)), bytes);
    const settled = isSettled(others.get(torrent));
    post({ type: "peers", infohash: torrent.infoHash, have, settled });
  };
  const soon = (torrent) => {
    if (pending.has(torrent)) return;
    pending.add(torrent);
    setTimeout(() => report(torrent), REPORT_MS);
  };
  const watch = (torrent) => {
    torrent.on("wire", (wire) => {
      soon(torrent);
      for (const event of ["bitfield", "have", "have-all", "have-none", "close"]) wire.on(event, () => soon(torrent));
    });
    if (torrent.ready) soon(torrent);
    else torrent.once("ready", () => soon(torrent));
  };
  const count = (torrent) =>
    onSwarmCounts(torrent, (n) => {
      others.set(torrent, n);
      soon(torrent);
    });
  client.torrents.forEach(watch);
  client.torrents.forEach(count);
  client.on("torrent", watch);
  // When added: discovery may start, and the tracker answer, before the torrent is ready.
  client.on("add", count);
  return { again: () => client.torrents.forEach(soon) };
}
