// Completes the pieces around a file the service worker took from the origin, so that this
// visitor can seed them (docs/runtime.md, "Seeding what the origin sent"). The worker stores
// the pieces that lie wholly inside files it verified; the pieces a file shares with its
// neighbours stay incomplete, and a visitor seeds whole pieces only. The agent fetches those
// from peers, or, when no connected peer holds one after PEER_WAIT_MS, from the web seed: at
// most the two boundary pieces per file (DESIGN.md, invariant 4). The web seed joins a torrent
// only while no read of the worker is open on it, so a read's bytes come from peers only.

/** How long a completion waits for peers before it may use the web seed. */
export const PEER_WAIT_MS = 700;
/** A completion gives up after this long (a new page's agent tries again). */
export const GIVE_UP_MS = 30_000;
const CHECK_MS = 200;

/** Pieces of first..last missing from `has(i)`. Pure. */
export function missingPieces(first, last, has) {
  const out = [];
  for (let i = first; i <= last; i++) if (!has(i)) out.push(i);
  return out;
}

/** Whether a completion may add the web seed now. Pure. */
export function needWebSeed({ missing, peersHolding, ageMs, busy }) {
  return missing > 0 && peersHolding === 0 && ageMs >= PEER_WAIT_MS && !busy;
}

/**
 * Select pieces first..last of `torrent` until all are verified; `webSeed(on)` attaches or
 * detaches the shard's web seed, `busy()` says whether a read is open on the torrent.
 */
export function completePieces(torrent, first, last, { webSeed, busy }) {
  const has = (i) => torrent.bitfield.get(i);
  if (!missingPieces(first, last, has).length || torrent.destroyed) return;
  const started = Date.now();
  torrent.select(first, last, 0);
  let seeded = false;
  const timer = setInterval(() => {
    const missing = torrent.destroyed ? [] : missingPieces(first, last, has);
    const age = Date.now() - started;
    if (!missing.length || age > GIVE_UP_MS) {
      clearInterval(timer);
      if (!torrent.destroyed) torrent.deselect(first, last);
      if (seeded) webSeed(false);
      return;
    }
    if (seeded && busy()) {
      webSeed(false); // a read started: its bytes must come from peers only
      seeded = false;
      return;
    }
    const peersHolding = torrent.wires.filter(
      (w) => w.type !== "webSeed" && missing.some((i) => w.peerPieces?.get(i)),
    ).length;
    if (!seeded && needWebSeed({ missing: missing.length, peersHolding, ageMs: age, busy: busy() })) {
      seeded = webSeed(true);
    }
  }, CHECK_MS);
}
