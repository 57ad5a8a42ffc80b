// Which source each window of a large file comes from (js/sw/large.js): peers that hold only
// the start of a window serve that much, and an origin run gives way once they hold the next
// SINGLE_BYTES.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { newCounters } from "../sw/counters.js";
import { PEERS_ONLY } from "../sw/file.js";
import { respondFile } from "../sw/handler.js";
import { MEDIA_BYTES_PER_MS, PieceFeed, SINGLE_BYTES, slackMs } from "../sw/large.js";
import { Meters } from "../sw/meter.js";

const PL = 65536;
const PIECES = 48;
const DATA = new Uint8Array(PL * PIECES).map((_, i) => (i * 31 + (i >> 16)) & 255);
const sha256 = (b) => createHash("sha256").update(b).digest("hex");
const FILE = {
  key: "v.webm",
  url: "http://127.0.0.1:1/v.webm",
  deadline: 2500,
  large: true,
  shard: { infohash: "1".repeat(40), torrent: "planktos/t/1.torrent", piece_length: PL },
  entry: {
    index: 0,
    offset: 0,
    length: DATA.length,
    chunks: Array.from({ length: PIECES }, (_, i) => sha256(DATA.subarray(i * PL, (i + 1) * PL))),
  },
};

const bytesStream = (bytes) =>
  new ReadableStream({
    start(c) {
      for (let at = 0; at < bytes.length; at += 16384) c.enqueue(bytes.slice(at, at + 16384));
      c.close();
    },
  });

/**
 * A feed over FILE whose agent's peers hold the pieces in `held` (a Set), origin stubbed;
 * `silent`: their streams never send a byte.
 */
function setup(held, { silent = false, gone = false } = {}) {
  const reads = []; // [source, start, end] per stream opened
  const agent = {
    heldThrough(_infohash, first, last) {
      for (let i = first; i <= last; i++) if (!held.has(i)) return i - 1;
      return last;
    },
    holds(infohash, first, last) {
      return this.heldThrough(infohash, first, last) === last;
    },
    join() {},
    ready: () => true,
    whenHolds: async () => false,
    stored() {},
    async read(request) {
      reads.push(["peer", request.start, request.end]);
      if (silent) return new ReadableStream({ pull: () => new Promise(() => {}) });
      if (gone) {
        // The peer (or the agent's page) goes away after half a piece: the stream errors.
        const half = DATA.slice(request.start, request.start + PL / 2);
        return new ReadableStream({ start: (c) => (c.enqueue(half), c.error(new Error("gone"))) });
      }
      return bytesStream(DATA.subarray(request.start, request.end + 1));
    },
  };
  globalThis.fetch = async (_url, { headers }) => {
    const [, s, e] = /bytes=(\d+)-(\d+)/.exec(headers.Range).map(Number);
    reads.push(["origin", s, e]);
    return new Response(bytesStream(DATA.subarray(s, e + 1)), {
      status: 206,
      headers: { "content-range": `bytes ${s}-${e}/${DATA.length}` },
    });
  };
  const store = { queued: 0, pieceIndexes: async () => new Set(), writePiece: async () => {} };
  const ctx = { store, agent, meters: new Meters(), counters: newCounters(), background() {}, keep: () => [] };
  return { feed: new PieceFeed(ctx, FILE, 0, PIECES - 1), reads, ctx };
}

async function drain(feed) {
  const sources = [];
  for (let got = await feed.next(); got; got = await feed.next()) sources.push(got.source);
  return sources;
}

test("peers holding only the start of a window serve that start; the rest is decided after it", async () => {
  const first = SINGLE_BYTES / PL; // pieces 0..7 are one-piece windows
  const held = new Set([...Array(PIECES).keys()].filter((i) => i < first + 3));
  const { feed, reads } = setup(held);
  const sources = await drain(feed);
  assert.deepEqual(sources.slice(0, first + 3), Array(first + 3).fill("peer"));
  assert.ok(sources.slice(first + 3).every((s) => s === "origin"));
  // The window past the first SINGLE_BYTES would be pieces 8..9; peers hold 8..10.
  assert.deepEqual(reads[first], ["peer", first * PL, (first + 2) * PL - 1]);
  assert.deepEqual(reads[first + 1], ["peer", (first + 2) * PL, (first + 3) * PL - 1]);
  assert.equal(reads[first + 2][0], "origin");
  assert.equal(reads[first + 2][1], (first + 3) * PL);
});

test("the origin's first window is SINGLE_BYTES in one request, then windows double", async () => {
  const { feed, reads } = setup(new Set());
  assert.deepEqual(await drain(feed), Array(PIECES).fill("origin"));
  const first = SINGLE_BYTES / PL;
  assert.deepEqual(
    reads.map(([, start, end]) => [start / PL, (end + 1) / PL - 1]),
    [
      [0, first - 1],
      [first, 3 * first - 1],
      [3 * first, PIECES - 1],
    ],
  );
});

test("past its first SINGLE_BYTES a video waits for peers as long as what it served plays; a download does not", async () => {
  for (const media of [true, false]) {
    const held = new Set();
    const { feed, ctx } = setup(held);
    ctx.media = media;
    const waits = [];
    // The agent's peers come to hold whatever a read waits for: the wait decides.
    ctx.agent.whenHolds = async (_infohash, first, last, ms) => {
      waits.push(ms);
      if (!(ms > 0)) return false;
      for (let i = first; i <= last; i++) held.add(i);
      return true;
    };
    const sources = await drain(feed);
    const first = SINGLE_BYTES / PL;
    assert.deepEqual(sources.slice(0, first), Array(first).fill("origin"), "what playback waits for: at once");
    if (media) {
      assert.ok(sources.slice(first).every((s) => s === "peer"));
      assert.equal(waits[0], 0);
      assert.equal(waits[1], SINGLE_BYTES / MEDIA_BYTES_PER_MS);
    } else {
      assert.ok(sources.every((s) => s === "origin"));
      assert.ok(waits.every((ms) => ms === 0));
    }
  }
});

test("a media element's slack: none before SINGLE_BYTES, then what it buffered plays, at most the deadline", () => {
  const deadlineMs = 2500;
  assert.equal(slackMs({ media: true, ahead: SINGLE_BYTES - 1, deadlineMs }), 0);
  assert.equal(slackMs({ media: true, ahead: SINGLE_BYTES, deadlineMs }), SINGLE_BYTES / MEDIA_BYTES_PER_MS);
  assert.equal(slackMs({ media: true, ahead: 64 << 20, deadlineMs }), deadlineMs);
  assert.equal(slackMs({ media: false, ahead: 64 << 20, deadlineMs }), 0);
});

test("an origin run gives way once peers hold the next SINGLE_BYTES of it, not the whole run", async () => {
  const held = new Set();
  const { feed, reads } = setup(held);
  const sources = [];
  // Origin windows: pieces 0..7 (SINGLE_BYTES), then 8..23.
  for (let i = 0; i < 10; i++) sources.push((await feed.next()).source);
  assert.ok(sources.every((s) => s === "origin"));
  assert.deepEqual(reads.at(-1), ["origin", 8 * PL, 24 * PL - 1]);
  // Peers come to hold pieces 10..17 only (SINGLE_BYTES; the run goes on to 23): enough.
  for (let i = 10; i <= 17; i++) held.add(i);
  for (let i = 10; i <= 17; i++) assert.equal((await feed.next()).source, "peer", `piece ${i}`);
  assert.equal((await feed.next()).source, "origin");
  assert.deepEqual(reads.find(([source]) => source === "peer"), ["peer", 10 * PL, 18 * PL - 1]);
});

test("peers that hold every piece but send nothing cost one first-byte bound, then the origin", { timeout: 5000 }, async () => {
  const held = new Set([...Array(PIECES).keys()]);
  const { feed, reads, ctx } = setup(held, { silent: true });
  const started = Date.now();
  const sources = await drain(feed);
  assert.ok(sources.every((s) => s === "origin"));
  // Asked once: the failure cools peers down (meter.js COOLDOWN_MS), held pieces or not.
  // Before, every window asked them again and waited its bound, the same piece again and again.
  assert.equal(reads.filter(([source]) => source === "peer").length, 1);
  assert.ok(ctx.meters.coolingDown());
  assert.ok(Date.now() - started < 1000, `${Date.now() - started} ms`);
});

test("a peer that goes away mid-read does not make the worker avoid the other peers", { timeout: 5000 }, async () => {
  const held = new Set([...Array(PIECES).keys()]);
  const { feed, reads, ctx } = setup(held, { gone: true });
  const sources = await drain(feed);
  assert.equal(sources.length, PIECES);
  assert.ok(sources.every((s) => s === "origin")); // each piece a peer left unfinished, and the runs after
  // Only lateness (no stream, no bytes in time) or bad bytes cool the peers down: later
  // windows ask the peers again, each failed piece is asked of the origin.
  assert.equal(ctx.meters.coolingDown(), false);
  assert.ok(reads.filter(([source]) => source === "peer").length > 1);
});

test("a prefetch of a large file's range the store holds is answered without a read", async () => {
  const { ctx, reads } = setup(new Set([...Array(PIECES).keys()]));
  const readPieces = [];
  Object.assign(ctx.store, {
    pieceIndexes: async () => new Set([0, 1, 2, 3, 5]),
    readPiece: async (_ih, i) => (readPieces.push(i), DATA.slice(i * PL, (i + 1) * PL)),
  });
  Object.assign(ctx, { peersOnly: "file", done() {} });
  const request = (range) => new Request(FILE.url, { headers: { Range: range } });
  await assert.rejects(respondFile(ctx, request(`bytes=0-${4 * PL - 1}`), FILE), (err) => err === PEERS_ONLY);
  assert.deepEqual([readPieces, reads], [[], []]);
  // Piece 4 is missing: that range is prefetched (from peers), the stored pieces read as usual.
  const response = await respondFile(ctx, request(`bytes=0-${5 * PL - 1}`), FILE);
  assert.equal((await response.arrayBuffer()).byteLength, 5 * PL);
  assert.deepEqual(readPieces, [0, 1, 2, 3]);
  assert.deepEqual(reads, [["peer", 4 * PL, 5 * PL - 1]]);
});
