// The pieces of a large file (one with `chunks`, alone in its shard, chunk i = piece i), in
// order, each checked against its chunk's SHA-256: from the store, else from one stream per
// run of missing pieces (the agent first, the origin when the agent is absent, late, stalls
// or sends a bad piece). Pieces taken from the origin are written to the store.

import { took, rejected } from "./counters.js";
import { agentRequest, IntegrityError } from "./file.js";
import { originStream } from "./origin.js";
import { pieceBounds } from "./pieces.js";
import { ChunkReader } from "./reader.js";
import { matchesSha256 } from "./verify.js";

export class PieceFeed {
  /** Pieces first..last of `file`. */
  constructor(ctx, file, first, last) {
    this.ctx = ctx;
    this.file = file;
    this.i = first;
    this.last = last;
    this.stored = null; // Set of stored piece indexes, listed once
    this.remote = null; // {source, reader, last}
    this.agentFailed = false;
  }

  /** {bytes, source} of the next verified piece, or null after the last one. */
  async next() {
    const { ctx, file } = this;
    const { infohash } = file.shard;
    for (;;) {
      const i = this.i;
      if (i > this.last) return null;
      if (!this.remote) {
        this.stored ??= await ctx.store.pieceIndexes(infohash);
        if (this.stored.has(i)) {
          const piece = await ctx.store.readPiece(infohash, i);
          if (piece && (await this.check(piece, i, "store"))) return this.advance(piece, "store");
          this.stored.delete(i);
        }
        this.remote = await this.open(i);
      }
      const remote = this.remote;
      let piece = null;
      try {
        piece = await remote.reader.take(this.size(i));
      } catch (err) {
        if (remote.source !== "agent") throw err;
      }
      if (piece && (await this.check(piece, i, remote.source))) {
        if (remote.source === "origin") ctx.background(ctx.store.writePiece(infohash, i, piece, ctx.keep));
        if (i === remote.last) this.closeRemote();
        return this.advance(piece, remote.source);
      }
      this.closeRemote();
      if (remote.source !== "agent") throw new IntegrityError(`origin piece ${i} of ${file.key} is corrupt`);
      this.agentFailed = true; // late, stalled or corrupt: the origin serves the rest
    }
  }

  advance(bytes, source) {
    this.i += 1;
    return { bytes, source };
  }

  size(i) {
    const { start, end } = pieceBounds(i, this.file.shard.piece_length, this.file.entry.length);
    return end - start;
  }

  async check(piece, i, source) {
    if (piece.byteLength === this.size(i) && (await matchesSha256(piece, this.file.entry.chunks[i]))) {
      took(this.ctx.counters, source, piece.byteLength);
      return true;
    }
    rejected(this.ctx.counters, source, piece.byteLength);
    return false;
  }

  /** A stream for the run of missing pieces from i, piece-aligned. */
  async open(i) {
    const { ctx, file } = this;
    let j = i;
    while (j < this.last && !this.stored.has(j + 1)) j++;
    const pl = file.shard.piece_length;
    const start = i * pl;
    const end = Math.min((j + 1) * pl, file.entry.length) - 1;
    if (!this.agentFailed) {
      const started = Date.now();
      try {
        const stream = await ctx.agent.read(agentRequest(file, start, end), file.deadline);
        const firstMs = Math.max(1, file.deadline - (Date.now() - started));
        return { source: "agent", last: j, reader: new ChunkReader(stream, { stallMs: file.deadline, firstMs }) };
      } catch {
        this.agentFailed = true;
      }
    }
    const stream = await originStream(file.url, start, end, file.entry.length);
    return { source: "origin", last: j, reader: new ChunkReader(stream) };
  }

  closeRemote() {
    this.remote?.reader.cancel();
    this.remote = null;
  }

  cancel() {
    this.i = this.last + 1;
    this.closeRemote();
  }
}
