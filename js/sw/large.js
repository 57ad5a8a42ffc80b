// The pieces of a large file (one with `chunks`, alone in its shard, chunk i = piece i), in
// order, each checked against its chunk's SHA-256: from the store, else from one stream per
// run of missing pieces, from peers when peers.js says so (a connected peer holds them), else
// from the origin; the origin also serves the rest of a run that peers were late with,
// stalled or got wrong. Each run decides anew, and an origin run past the first SINGLE_BYTES
// stops at the next piece that the agent's peers hold (`peersTakeOver`), so a video starts
// from the origin and goes on from peers once they hold what comes next. Pieces taken from the
// origin are written to the store.
//
// A run is one window: the agent selects every piece of a read at once (and fetches them in
// any order), so `Range: bytes=0-` on a video must not become a read of the whole file. A
// window is opened only when the stream gets there (a seek cancels the request before). Until
// the request has read SINGLE_BYTES, windows are one piece: a metadata peek or a seek costs
// at most the piece being pulled when it stops. Then each window doubles, up to
// MAX_WINDOW_BYTES, so a long sequential read asks for megabytes at a time.

//
// The origin's windows start at SINGLE_BYTES and grow further, up to MAX_ORIGIN_WINDOW_BYTES:
// each is one more request,
// and a 200 MB file in 2 MB windows took 100 of them (issue 12, item 22). A stream that stops
// (a seek, a page gone) cancels its request; the origin sends at most what was in flight.
// Pieces from the origin are written to the store in the background, unless WRITE_BACKLOG
// bytes already wait to be written: a file arriving faster than the store takes it would
// otherwise be slowed down by its own writes (one write at a time, each an OPFS swap file);
// the pieces not kept come from peers or the origin next time.

export const SINGLE_BYTES = 512 * 1024;
export const MAX_WINDOW_BYTES = 2 << 20;
export const MAX_ORIGIN_WINDOW_BYTES = 32 << 20;
export const WRITE_BACKLOG = 8 << 20;
/**
 * The rate a media element is assumed to play at (8 Mbit/s): the bytes one request has served
 * are at most what the element buffered, and for as long as they play (at most the deadline)
 * the next missing run may wait for the peers of an agent that is starting, instead of taking
 * the origin at once (`slackMs`).
 */
export const MEDIA_BYTES_PER_MS = 1000;

/**
 * How long the next window of a request that has served `ahead` bytes may wait for peers
 * without anyone waiting: a media element (`media`) plays what it buffered meanwhile. Past its
 * first SINGLE_BYTES (what playback waits for, from the faster source), a video went on from
 * the origin for the half second its page's agent took to connect: 1-1.5 MB a visitor in the
 * crowd benchmark, and a returning visitor's stored prefix was followed by origin windows the
 * same way. Not for other files: a download waits for whatever is not there. Pure.
 */
export function slackMs({ media, ahead, deadlineMs }) {
  return media && ahead >= SINGLE_BYTES ? Math.min(deadlineMs, ahead / MEDIA_BYTES_PER_MS) : 0;
}

/**
 * Whether an origin run gives way to peers at its next piece: past the first SINGLE_BYTES of
 * the request (what playback waits for comes from the faster source), the agent's connected
 * peers hold the rest of the run, and no peer read failed lately. The rest of a large file
 * comes from peers as soon as they have it, as p2p-media-loader takes segments beyond its
 * high-demand window from peers: a visitor whose agent connects while the origin streams a
 * 2 MiB window does not take all of it from the origin. Pure.
 */
export function peersTakeOver({ readBytes, held, coolingDown }) {
  return readBytes >= SINGLE_BYTES && held && !coolingDown;
}

/**
 * Pieces in the next window, once the request has read `readBytes` and the last window was
 * `previous` pieces; `most` bytes at most. Pure.
 */
export function windowPieces(readBytes, previous, pieceLength, most = MAX_WINDOW_BYTES) {
  if (readBytes < SINGLE_BYTES) return 1;
  const pieces = Math.max(1, Math.floor(most / pieceLength));
  return Math.min(pieces, Math.max(1, previous * 2));
}

import { took, rejected } from "./counters.js";
import { IntegrityError, PEERS_ONLY } from "./file.js";
import { originStream } from "./origin.js";
import { downWaitMs, late, measured, peerReader } from "./peers.js";
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
    this.remote = null; // {source, reader, last, asked, bytes}
    this.first = first;
    this.window = 0; // pieces in the last remote read
    this.failedAt = -1; // the piece a peer read last failed at
    this.ahead = 0; // bytes this request has served: at most what a media element buffered
  }

  /** {bytes, source} of the next verified piece, or null after the last one. */
  async next() {
    const { ctx, file } = this;
    const { infohash } = file.shard;
    for (;;) {
      const i = this.i;
      if (i > this.last) return null;
      if (this.remote?.source === "origin" && i > this.remote.from && this.giveWay(i, this.remote.last)) {
        this.closeRemote(); // the bytes in flight are lost; the rest of the run is not
      }
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
      let failure = null;
      try {
        piece = await remote.reader.take(this.size(i));
      } catch (err) {
        if (remote.source !== "peer") throw err;
        failure = err;
      }
      if (piece && (await this.check(piece, i, remote.source))) {
        if (remote.source === "origin" && !(ctx.store.queued > WRITE_BACKLOG)) {
          ctx.background(ctx.store.writePiece(infohash, i, piece, ctx.keep).then(() => ctx.agent.stored(infohash)));
        }
        if (i === remote.last) {
          const meter = remote.source === "peer" ? ctx.meters.peers : ctx.meters.origin;
          measured(meter, remote.reader, remote.bytes, remote.asked);
          this.closeRemote();
        }
        return this.advance(piece, remote.source);
      }
      this.closeRemote();
      if (remote.source !== "peer") throw new IntegrityError(file.key);
      // Late, stalled or corrupt: peers are avoided a while; a peer gone: this piece from
      // the origin, and the next window decides again.
      if (!failure || late(failure)) ctx.meters.peerFailed();
      this.failedAt = i;
      if (ctx.peersOnly) throw PEERS_ONLY;
    }
  }

  /** Whether the origin run should stop before piece i (`peersTakeOver`). */
  giveWay(i, last) {
    const { agent, meters } = this.ctx;
    const pl = this.file.shard.piece_length;
    const readBytes = (i - this.first) * pl;
    // An origin run may be long (MAX_ORIGIN_WINDOW_BYTES): peers holding the next SINGLE_BYTES
    // of it is enough (a visitor ahead of this one holds what it played, not the whole file).
    const upTo = Math.min(last, i + Math.max(1, Math.floor(SINGLE_BYTES / pl)) - 1);
    const held = readBytes >= SINGLE_BYTES && agent.holds(this.file.shard.infohash, i, upTo);
    return peersTakeOver({ readBytes, held, coolingDown: meters.coolingDown() });
  }

  advance(bytes, source) {
    this.i += 1;
    this.ahead += bytes.byteLength;
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
    const pl = file.shard.piece_length;
    const read = (i - this.first) * pl;
    const previous = this.window;
    this.window = windowPieces(read, previous, pl);
    const through = (j) => {
      const start = i * pl;
      const end = Math.min((j + 1) * pl, file.entry.length) - 1;
      return { j, start, end, bytes: end - start + 1 };
    };
    const run = (pieces) => {
      let j = i;
      while (j < this.last && j < i + pieces - 1 && !this.stored.has(j + 1)) j++;
      return through(j);
    };
    let forPeers = run(this.window);
    // Peers that hold the start of the window serve that much, and the rest is decided when
    // the stream gets there: a visitor a few seconds ahead holds what it has played so far.
    const held = ctx.agent.heldThrough(file.shard.infohash, i, forPeers.j);
    if (held >= i && held < forPeers.j) forPeers = through(held);
    // A prefetch waits for peers up to the deadline, and never takes the origin.
    const slack = slackMs({ media: ctx.media, ahead: this.ahead, deadlineMs: file.deadline });
    const peers =
      this.failedAt === i
        ? null
        : await peerReader(ctx, file, forPeers.start, forPeers.end, ctx.peersOnly ? file.deadline : null, { slackMs: slack });
    if (peers) return { source: "peer", last: forPeers.j, bytes: forPeers.bytes, ...peers };
    if (ctx.peersOnly) throw PEERS_ONLY;
    // The origin it is: a longer window (peers are asked again at its end), and the first
    // SINGLE_BYTES in one request rather than one per piece (a round trip each: 8 before a
    // video's first frame). A stream that stops cancels it; the origin sends at most what was
    // in flight, as it would to a plain <video>.
    const longer =
      read < SINGLE_BYTES
        ? Math.max(1, Math.floor(SINGLE_BYTES / pl))
        : windowPieces(read, previous, pl, MAX_ORIGIN_WINDOW_BYTES);
    const { j, start, end, bytes } = run(longer);
    const asked = Date.now();
    let stream;
    try {
      stream = await originStream(file.url, start, end, file.entry.length);
    } catch (err) {
      // The origin is down or failing: peers are what is left, worth waiting for.
      const late = await peerReader(ctx, file, forPeers.start, forPeers.end, downWaitMs(file));
      if (late) return { source: "peer", last: forPeers.j, bytes: forPeers.bytes, ...late };
      throw err;
    }
    this.window = longer;
    return { source: "origin", from: i, last: j, bytes, asked, reader: new ChunkReader(stream) };
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
