// The torrents of the client: added on demand from their .torrent (kept in OPFS), with the
// manifest's trackers, the OPFS store and nothing selected; at most `max_seeded` at once.

import parseTorrent from "parse-torrent";
import { counters } from "./counters.js";
import { guardTorrent, unheldPiece } from "./guard.js";
import { markStored, pieceHash, setTrackers, trackerClient, whenTrackerLost } from "./internals.js";
import { dir, knownWhole, readFile, storedPieces, touch, writeFile } from "./opfs.js";
import { bitfieldOf } from "./pieces.js";
import { OpfsStore } from "./store.js";
import { TrackerGate } from "./trackers.js";
import { torrentRefOf, torrentUrl, trackerUrls } from "./urls.js";

export class Torrents {
  constructor(client, settings, base) {
    this.client = client;
    this.settings = settings;
    this.base = base;
    this.adding = new Map(); // infohash → Promise<Torrent>
    this.lastUse = new Map(); // infohash → ms
    this.busy = new Map(); // infohash → open reads
    this.reads = new Map(); // infohash → Set of {first, last, fail(err)}: streams under way
    // Only trackers that answer a probe (trackers.js): a WebSocket to one that is down is
    // logged as a console error. One that comes back joins every torrent.
    this.trackers = new TrackerGate(trackerUrls(settings.trackers, base), {
      onChange: (usable) => this._useTrackers(usable),
    });
    this.trackers.usable().catch(() => {}); // probe now, while the first read's metadata loads
  }

  /** The ready torrent for an infohash, added if needed (`torrentRef`: manifest `torrent`). */
  get(infohash, torrentRef = null) {
    this.lastUse.set(infohash, Date.now());
    let pending = this.adding.get(infohash);
    if (!pending) {
      pending = this._add(infohash, torrentRef);
      this.adding.set(infohash, pending);
      pending.catch(() => this.adding.delete(infohash));
    }
    return pending;
  }

  async _add(infohash, torrentRef) {
    let parsed;
    try {
      parsed = await parseTorrent(await this._metadata(infohash, torrentRef));
    } catch {
      // No .torrent in OPFS and none from the origin (down?): peers send the metadata (BEP 9),
      // which WebTorrent checks against the infohash.
      parsed = await parseTorrent(`magnet:?xt=urn:btih:${infohash}`);
    }
    if (parsed.infoHash !== infohash) throw new Error("torrent does not match its infohash");
    // The manifest's trackers that answer. No web seed: the agent serves bytes from peers
    // only, and the service worker takes the origin's itself (docs/runtime.md).
    parsed.announce = await this.trackers.usable();
    parsed.urlList = [];
    const stored = await storedPieces(infohash);
    const torrent = this.client.add(parsed, {
      store: OpfsStore,
      deselect: true,
      // Pieces on disk were verified when written: WebTorrent re-hashes one or two per file.
      // Also when none is: without a bitfield it looks for every piece in the store, one OPFS
      // lookup each (≈ 80 ms for the 90 pieces of the demo's image shard, before any peer).
      bitfield: parsed.pieces ? bitfieldOf(stored, parsed.pieces.length) : undefined,
    });
    guardTorrent(torrent, counters, (t) => this._failOrphanedReads(t));
    if (!parsed.info) {
      torrent.once("metadata", () => {
        dir(["t"], true)
          .then((kept) => writeFile(kept, `${infohash}.torrent`, torrent.torrentFile, infohash))
          .catch(() => {});
      });
    }
    await new Promise((resolve, reject) => {
      if (torrent.ready) return resolve();
      torrent.once("ready", resolve);
      torrent.once("error", reject);
    });
    torrent.on("error", () => {});
    this._watchTracker(torrent);
    torrent.once("close", () => this.adding.delete(infohash));
    this._bound();
    return torrent;
  }

  /** Drop a tracker from every torrent when its connection closes (`_lost`). */
  _watchTracker(torrent) {
    whenTrackerLost(trackerClient(torrent), (url) => this._lost(url));
  }

  /** Give every torrent the trackers `urls` (one that was down answers again, or one left). */
  _useTrackers(urls) {
    for (const torrent of this.client.torrents) setTrackers(torrent, urls, () => this._watchTracker(torrent));
  }

  /**
   * A tracker's connection closed (it stopped): drop it from every torrent at once, before
   * WebTorrent tries to reconnect (each failed attempt is a console error), and let the
   * probes (trackers.js) bring it back when it answers again.
   */
  _lost(url) {
    counters.trackersLost += 1;
    this._useTrackers(this.trackers.lost(url));
  }

  /**
   * The .torrent bytes: from OPFS, else from the origin (then kept in OPFS). A stored torrent
   * that seed.js adds before any read named it has no reference and may have no kept copy
   * (the worker stored its pieces): the build's layout names it. Added by magnet instead, it
   * would wait for a peer's metadata, and stays so when the next read names it; two agents
   * in that state were seen connected in a swarm, neither ever ready (Firefox, test_p2p).
   */
  async _metadata(infohash, torrentRef) {
    const kept = await dir(["t"], true);
    const file = await readFile(kept, `${infohash}.torrent`);
    if (file?.size) return new Uint8Array(await file.arrayBuffer());
    const resp = await fetch(torrentUrl(torrentRef ?? torrentRefOf(infohash), this.base));
    if (!resp.ok) throw new Error(`torrent: HTTP ${resp.status}`);
    const bytes = new Uint8Array(await resp.arrayBuffer());
    writeFile(kept, `${infohash}.torrent`, bytes, infohash).catch(() => {});
    return bytes;
  }

  /**
   * Mark a read of pieces first..last of a torrent as open until the returned function is
   * called; `fail(err)` ends it early when no connected peer can serve it any more.
   */
  readWith(torrent, first, last, fail) {
    const infohash = torrent.infoHash;
    const read = { first, last, fail };
    if (!this.reads.has(infohash)) this.reads.set(infohash, new Set());
    this.reads.get(infohash).add(read);
    this.reading(infohash, true);
    return () => {
      this.reads.get(infohash)?.delete(read);
      this.reading(infohash, false);
    };
  }

  /**
   * A peer of `torrent` left or was dropped (guard.js): fail the reads that wait for a piece
   * no connected peer holds now, so that the service worker asks the origin at once rather
   * than after a stall (WebTorrent would wait for a new peer indefinitely).
   */
  _failOrphanedReads(torrent) {
    for (const read of this.reads.get(torrent.infoHash) ?? []) {
      const piece = unheldPiece(torrent, read.first, read.last);
      if (piece !== null) read.fail(new Error(`no connected peer holds piece ${piece}`));
    }
  }

  /**
   * Tell WebTorrent about pieces in `[first, last]` that are on disk but not in its bitfield
   * (written by the service worker since the torrent was added), so it neither fetches them
   * again nor hides them from peers. The store holds only verified pieces.
   */
  async syncStored(torrent, first, last) {
    const stored = await storedPieces(torrent.infoHash);
    for (const i of stored) {
      if (i < first || i > last || torrent.bitfield.get(i) || torrent.destroyed) continue;
      if (!markStored(torrent, i)) return;
    }
  }

  /**
   * Keep piece `index` of a torrent (the worker assembled it: docs/runtime.md, "Seeding what
   * the origin sent") if its SHA-1 is the torrent's, and announce it.
   */
  async keepPiece({ infohash, index, bytes }) {
    // Only for a torrent already joined (the worker's join comes first): adding one here would
    // connect to trackers at any moment, one that just went down included.
    const pending = this.adding.get(infohash);
    if (!pending) return;
    const torrent = await pending;
    const hash = torrent.pieces?.[index] && pieceHash(torrent, index);
    if (!hash || torrent.bitfield.get(index) || bytes.byteLength !== torrent.pieces[index].length) return;
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", bytes));
    if (hex(digest) !== hash) return;
    await writeFile(await dir(["p", infohash], true), String(index), bytes, infohash);
    knownWhole(infohash, index);
    markStored(torrent, index);
  }

  /** The service worker stored pieces of a torrent the agent has: announce them to peers. */
  async stored(infohash) {
    const pending = this.adding.get(infohash);
    if (!pending) return;
    const torrent = await pending;
    await this.syncStored(torrent, 0, torrent.pieces.length - 1);
  }

  /** Mark a read on an infohash as started (true) or ended (false). */
  reading(infohash, started) {
    const n = (this.busy.get(infohash) ?? 0) + (started ? 1 : -1);
    if (n > 0) this.busy.set(infohash, n);
    else this.busy.delete(infohash);
    this.lastUse.set(infohash, Date.now());
    touch(infohash);
  }

  /** Keep at most `max_seeded` torrents: drop the least recently used idle ones. */
  _bound() {
    const max = Math.max(1, Number(this.settings.runtime.max_seeded) || 50);
    const idle = this.client.torrents
      .filter((t) => !this.busy.has(t.infoHash))
      .sort((a, b) => (this.lastUse.get(a.infoHash) ?? 0) - (this.lastUse.get(b.infoHash) ?? 0));
    let extra = this.client.torrents.length - max;
    for (const t of idle) {
      if (extra-- <= 0) break;
      this.adding.delete(t.infoHash);
      this.client.remove(t, { destroyStore: false }).catch(() => {});
    }
  }
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
