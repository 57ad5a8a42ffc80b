// When a read may use the web seed. Peers first: the origin should send each file about once
// for the whole swarm (DESIGN.md), and a web seed that WebTorrent has is used at once, in
// parallel with peers. So the web seed joins a torrent only while a read needs it, and when
// no peer can deliver: the tracker says we are alone, or no peer has the missing pieces once
// the swarm had time to show up, or the peers that have them stopped making progress.

/** How long a fresh torrent waits for its first peers (FACTS.md: first wire ≈ 0.4–0.5 s). */
export const PEER_WAIT_MS = 700;
/** How long peers that have the pieces may go without delivering one. */
export const STALL_MS = 1000;
const CHECK_MS = 100;
const wireSince = new WeakMap(); // wire → when it connected

/** Remember when each wire of a torrent connected (call once per torrent). */
export function trackWires(torrent) {
  for (const w of torrent.wires) wireSince.set(w, Date.now());
  torrent.on("wire", (w) => wireSince.set(w, Date.now()));
}

/**
 * Whether a read should add the web seed now. Pure. `missing`: pieces still to come;
 * `peersWithPieces`: peers (not web seeds) that have one of them; `alone`: the tracker counted
 * no one but us in the swarm; `ageMs`: since the torrent was added; `stalledMs`: since the
 * read started or last got a piece.
 */
export function needWebSeed({ missing, peersWithPieces, alone = false, ageMs, stalledMs }) {
  if (!missing) return false;
  if (peersWithPieces === 0) return alone || ageMs >= PEER_WAIT_MS;
  return stalledMs >= STALL_MS;
}

/**
 * Watch a read of pieces [first, last] and call `addWebSeed()` when `needWebSeed` says so;
 * `swarm()` gives {addedAt, alone} for the torrent. Returns a function that stops watching.
 */
export function watchRead(torrent, swarm, first, last, addWebSeed) {
  let progress = Date.now();
  const missingPieces = () => {
    const out = [];
    for (let i = first; i <= last; i++) if (!torrent.bitfield.get(i)) out.push(i);
    return out;
  };
  const onVerified = (i) => {
    if (i >= first && i <= last) progress = Date.now();
  };
  const check = () => {
    if (torrent.destroyed) return stop();
    const missing = missingPieces();
    const now = Date.now();
    // A peer that still chokes us PEER_WAIT_MS after connecting will not serve us (metered
    // visitors never unchoke: upload.js); it does not count.
    const peersWithPieces = torrent.wires.filter(
      (w) =>
        w.type !== "webSeed" &&
        (!w.peerChoking || now - (wireSince.get(w) ?? 0) < PEER_WAIT_MS) &&
        missing.some((i) => w.peerPieces.get(i)),
    ).length;
    const { addedAt, alone } = swarm();
    const stalledMs = now - progress;
    if (needWebSeed({ missing: missing.length, peersWithPieces, alone, ageMs: now - addedAt, stalledMs })) {
      addWebSeed();
      stop();
    } else if (!missing.length) stop();
  };
  const timer = setInterval(check, CHECK_MS);
  torrent.on("verified", onVerified);
  function stop() {
    clearInterval(timer);
    torrent.removeListener("verified", onVerified);
  }
  check();
  return stop;
}
