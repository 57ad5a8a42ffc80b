// Tells the service worker which pieces the agent's connected peers hold, per torrent
// (`{type: "peers", infohash, have}`, docs/runtime.md "SW ↔ agent"): the worker sends a read
// to the agent only when a peer holds its pieces, and takes the origin at once otherwise.
// Reported when a peer connects, announces a piece or leaves, at most every REPORT_MS per
// torrent.

export const REPORT_MS = 50;

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
  const report = (torrent) => {
    pending.delete(torrent);
    if (torrent.destroyed || !torrent.pieces?.length) return;
    const bytes = Math.ceil(torrent.pieces.length / 8);
    const peers = torrent.wires.filter((w) => w.type !== "webSeed" && !w.destroyed);
    post({ type: "peers", infohash: torrent.infoHash, have: unionOf(peers.map((w) => bitsOf(w.peerPieces, bytes)), bytes) });
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
  client.torrents.forEach(watch);
  client.on("torrent", watch);
  return { again: () => client.torrents.forEach(soon) };
}
