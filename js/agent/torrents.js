// The torrents of the client: added on demand from their .torrent (kept in OPFS), with the
// manifest's trackers, the OPFS store and nothing selected; at most `max_seeded` at once.

import parseTorrent from "parse-torrent";
import { counters } from "./counters.js";
import { markStored, setTrackers, trackerClient, whenTrackerLost } from "./internals.js";
import { dir, readFile, storedPieces, touch, writeFile } from "./opfs.js";
import { bitfieldOf } from "./pieces.js";
import { OpfsStore } from "./store.js";
import { TrackerGate } from "./trackers.js";
import { torrentUrl, trackerUrls, webSeedUrl } from "./urls.js";
import { trackWires, watchRead } from "./webseed.js";

export class Torrents {
  constructor(client, settings, base) {
    this.client = client;
    this.settings = settings;
    this.base = base;
    this.adding = new Map(); // infohash → Promise<Torrent>
    this.lastUse = new Map(); // infohash → ms
    this.busy = new Map(); // infohash → open reads
    this.addedAt = new Map(); // infohash → ms
    this.swarmSize = new Map(); // infohash → peers the tracker last counted, us included
    this.webSeeds = new Map(); // infohash → web seed URL in use
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
    // The manifest's trackers that answer; the web seed is added per read (see `useWebSeed`).
    parsed.announce = await this.trackers.usable();
    parsed.urlList = [];
    const stored = await storedPieces(infohash);
    this.addedAt.set(infohash, Date.now());
    const torrent = this.client.add(parsed, {
      store: OpfsStore,
      deselect: true,
      // Pieces on disk were verified when written: WebTorrent re-hashes one or two per file.
      // Also when none is: without a bitfield it looks for every piece in the store, one OPFS
      // lookup each (≈ 80 ms for the 90 pieces of the demo's image shard, before any peer).
      bitfield: parsed.pieces ? bitfieldOf(stored, parsed.pieces.length) : undefined,
    });
    trackWires(torrent);
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
    this._watchTracker(torrent, parsed.announce.length > 0);
    torrent.once("close", () => this.adding.delete(infohash));
    this._bound();
    return torrent;
  }

  /**
   * The tracker's counts tell a lone visitor not to wait for peers (webseed.js). Without a
   * reachable tracker no peer can be found: the visitor is alone.
   */
  _watchTracker(torrent, tracked) {
    const infohash = torrent.infoHash;
    if (!tracked) this.swarmSize.set(infohash, 1);
    const client = trackerClient(torrent);
    client?.on?.("update", (data) => {
      const n = Number(data?.complete ?? 0) + Number(data?.incomplete ?? 0);
      if (Number.isFinite(n)) this.swarmSize.set(infohash, n);
    });
    whenTrackerLost(client, (url) => this._lost(url));
  }

  /** Give every torrent the trackers `urls` (one that was down answers again, or one left). */
  _useTrackers(urls) {
    for (const torrent of this.client.torrents) {
      this.swarmSize.delete(torrent.infoHash);
      if (!setTrackers(torrent, urls, () => this._watchTracker(torrent, true))) continue;
      if (!urls.length) this.swarmSize.set(torrent.infoHash, 1); // no tracker: alone
    }
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

  /** The .torrent bytes: from OPFS, else from the origin (then kept in OPFS). */
  async _metadata(infohash, torrentRef) {
    const kept = await dir(["t"], true);
    const file = await readFile(kept, `${infohash}.torrent`);
    if (file) return new Uint8Array(await file.arrayBuffer());
    if (!torrentRef) throw new Error("no torrent metadata");
    const resp = await fetch(torrentUrl(torrentRef, this.base));
    if (!resp.ok) throw new Error(`torrent: HTTP ${resp.status}`);
    const bytes = new Uint8Array(await resp.arrayBuffer());
    writeFile(kept, `${infohash}.torrent`, bytes, infohash).catch(() => {});
    return bytes;
  }

  /**
   * Let a read of pieces [first, last] fall back on the shard's web seed when peers cannot
   * deliver (webseed.js); the web seed leaves the torrent when its last read ends. Returns a
   * function to call when the read ends.
   */
  readWith(torrent, webseed, first, last) {
    const infohash = torrent.infoHash;
    this.reading(infohash, true);
    const url = webseed ? webSeedUrl(webseed, this.base) : null;
    const stop = url
      ? watchRead(torrent, () => this._swarm(infohash), first, last, () => {
          if (this.webSeeds.has(infohash) || torrent.destroyed) return;
          this.webSeeds.set(infohash, url);
          torrent.addWebSeed(url);
        })
      : () => {};
    return () => {
      stop();
      this.reading(infohash, false);
      const inUse = this.webSeeds.get(infohash);
      if (!this.busy.has(infohash) && inUse) {
        this.webSeeds.delete(infohash);
        if (!torrent.destroyed) torrent.removePeer(inUse);
      }
    };
  }

  _swarm(infohash) {
    return { addedAt: this.addedAt.get(infohash) ?? 0, alone: this.swarmSize.get(infohash) <= 1 };
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
