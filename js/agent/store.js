// OpfsStore: WebTorrent's chunk store (abstract-chunk-store interface) over
// planktos-v1/p/<infohash>/<piece index>, the layout the service worker reads and writes too.

import { dir, knownWhole, readFile, touch, writeFile } from "./opfs.js";
import { pieceSize, sliceOf } from "./pieces.js";

const later = (cb, ...args) => queueMicrotask(() => cb(...args));

function notFound(index) {
  const err = new Error(`piece ${index} is not stored`);
  err.notFound = true;
  return err;
}

export class OpfsStore {
  /** WebTorrent calls `new Store(pieceLength, {torrent, length, ...})`. */
  constructor(chunkLength, opts = {}) {
    this.chunkLength = Number(chunkLength);
    if (!this.chunkLength) throw new Error("OpfsStore needs a chunk length");
    this.infohash = opts.torrent?.infoHash ?? opts.infohash;
    if (!/^[0-9a-f]{40}$/.test(this.infohash ?? "")) throw new Error("OpfsStore needs an infohash");
    this.length = Number(opts.length) || Infinity;
    this.closed = false;
    // Pieces that could not be written even after eviction stay here for this session, so
    // that a full disk costs persistence, never a response.
    this.unsaved = new Map();
    this._dir = null;
  }

  _pieces() {
    this._dir ??= dir(["p", this.infohash], true);
    this._dir.catch(() => {
      this._dir = null;
    });
    return this._dir;
  }

  put(index, buf, cb = () => {}) {
    if (this.closed) return later(cb, new Error("OpfsStore is closed"));
    const expected = this.length === Infinity ? this.chunkLength : pieceSize(index, this.chunkLength, this.length);
    if (buf.byteLength !== expected) {
      return later(cb, new Error(`piece ${index} must be ${expected} bytes, not ${buf.byteLength}`));
    }
    this._write(index, buf)
      .then(
        () => {
          this.unsaved.delete(index);
          knownWhole(this.infohash, index);
          touch(this.infohash);
          cb(null);
        },
        () => {
          this.unsaved.set(index, buf);
          cb(null);
        },
      );
  }

  async _write(index, buf) {
    try {
      await writeFile(await this._pieces(), String(index), buf, this.infohash);
    } catch (err) {
      // The service worker may have evicted our directory: open it again, once.
      if (err?.name !== "NotFoundError") throw err;
      this._dir = null;
      await writeFile(await this._pieces(), String(index), buf, this.infohash);
    }
  }

  get(index, opts, cb = () => {}) {
    if (typeof opts === "function") return this.get(index, null, opts);
    if (this.closed) return later(cb, new Error("OpfsStore is closed"));
    const kept = this.unsaved.get(index);
    if (kept) {
      const slice = sliceOf(opts, kept.byteLength);
      if (!slice) return later(cb, new Error(`bad range in piece ${index}`));
      return later(cb, null, kept.subarray(slice.offset, slice.offset + slice.length));
    }
    this._pieces()
      .then((pieces) => readFile(pieces, String(index)))
      .then(async (file) => {
        if (!file) {
          knownWhole(this.infohash, index, false);
          this._dir = null; // maybe evicted and created again since
          return cb(notFound(index));
        }
        const slice = sliceOf(opts, file.size);
        if (!slice) return cb(new Error(`bad range in piece ${index}`));
        const bytes = await file.slice(slice.offset, slice.offset + slice.length).arrayBuffer();
        cb(null, new Uint8Array(bytes));
      })
      .catch(() => cb(notFound(index)));
  }

  close(cb = () => {}) {
    this.closed = true;
    this.unsaved.clear();
    later(cb, null);
  }

  /** Deletes this torrent's pieces (WebTorrent calls it only with `destroyStore`). */
  destroy(cb = () => {}) {
    this.close();
    dir(["p"])
      .then((pieces) => pieces?.removeEntry(this.infohash, { recursive: true }))
      .then(
        () => cb(null),
        () => cb(null),
      );
  }
}
