// Where a small file's bytes come from once the worker chose the origin (js/sw/small.js): the
// agent's peers that come to hold it while the origin is still sending overtake it.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { newCounters } from "../sw/counters.js";
import { Meters } from "../sw/meter.js";
import { OVERTAKE_BYTES, smallFile } from "../sw/small.js";

const PL = 16384;
let made = 0;

/** A file of `length` bytes alone in its shard, with bytes of its own (smallFile remembers). */
function makeFile(length) {
  made += 1;
  const data = new Uint8Array(length).map((_, i) => (i * 7 + made * 13) & 255);
  const file = {
    key: `img${made}.png`,
    url: `http://127.0.0.1:1/img${made}.png`,
    deadline: 2500,
    shard: { infohash: String(made % 10).repeat(40), torrent: "planktos/t/x.torrent", piece_length: PL, length },
    entry: { index: 0, offset: 0, length, sha256: createHash("sha256").update(data).digest("hex") },
  };
  return { file, data };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A stream of `bytes` in 16 KiB chunks, `gapMs` apart; `aborted` set when cancelled. */
function slowStream(bytes, gapMs, signal, state) {
  let at = 0;
  return new ReadableStream({
    async pull(c) {
      await sleep(gapMs);
      if (signal?.aborted) {
        state.aborted = true;
        c.error(new DOMException("aborted", "AbortError"));
        return;
      }
      c.enqueue(bytes.slice(at, at + 16384));
      at += 16384;
      if (at >= bytes.length) c.close();
    },
    cancel() {
      state.aborted = true;
    },
  });
}

/**
 * A worker context for `data`: the origin sends a chunk every `originGapMs`; the agent's peers
 * come to hold the file after `peersAfterMs` (never: Infinity) and then send it at once, or
 * fail (`peersFail`).
 */
function setup(data, { originGapMs, peersAfterMs, peersFail = false }) {
  const state = { aborted: false, peerReads: 0, originReads: 0 };
  const watchers = new Set();
  let holding = false;
  if (peersAfterMs !== Infinity) {
    setTimeout(() => {
      holding = true;
      for (const w of [...watchers]) w();
    }, peersAfterMs);
  }
  const agent = {
    holds: () => holding,
    join() {},
    ready: () => true,
    whenHolds(_ih, _f, _l, ms) {
      if (holding) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (v) => {
          watchers.delete(check);
          clearTimeout(timer);
          resolve(v);
        };
        const check = () => holding && done(true);
        const timer = setTimeout(() => done(false), ms);
        watchers.add(check);
      });
    },
    async read(request) {
      state.peerReads += 1;
      if (peersFail) return new ReadableStream({ start: (c) => c.error(new Error("gone")) });
      return new ReadableStream({
        start(c) {
          c.enqueue(data.slice(request.start, request.end + 1));
          c.close();
        },
      });
    },
  };
  globalThis.fetch = async (_url, { signal }) => {
    state.originReads += 1;
    return new Response(slowStream(data, originGapMs, signal, state), { status: 200 });
  };
  const store = {
    readFile: async () => null,
    hasFile: async () => false,
    readPiece: async () => null,
    writeFile: async () => {},
    writePiece: async () => {},
    deleteFile: async () => {},
    queued: 0,
  };
  const ctx = {
    store,
    agent,
    meters: new Meters(),
    counters: newCounters(),
    background: (p) => p?.catch?.(() => {}),
    keep: () => [],
    scope: "http://127.0.0.1:1/",
    peersOnly: null,
  };
  return { ctx, state };
}

test("peers that come to hold a large image while the origin sends it overtake the origin", async () => {
  const { file, data } = makeFile(8 * 16384);
  // The origin takes 8 × 60 ms; the peers hold it after 100 ms.
  const { ctx, state } = setup(data, { originGapMs: 60, peersAfterMs: 100 });
  const started = Date.now();
  const got = await smallFile(ctx, file);
  assert.equal(got.source, "peer");
  assert.deepEqual(got.bytes, data);
  assert.ok(Date.now() - started < 400, `${Date.now() - started} ms`);
  await sleep(100);
  assert.ok(state.aborted, "the origin's request is cancelled");
  assert.equal(ctx.counters.bytes.peer, data.length);
});

test("an origin that finishes first keeps the file, and the peers are not blamed", async () => {
  const { file, data } = makeFile(8 * 16384);
  const { ctx, state } = setup(data, { originGapMs: 5, peersAfterMs: Infinity });
  const got = await smallFile(ctx, file);
  assert.equal(got.source, "origin");
  assert.deepEqual(got.bytes, data);
  assert.equal(ctx.counters.bytes.origin, data.length, "the bytes taken, counted once");
  assert.equal(state.peerReads, 0);
  assert.equal(ctx.meters.coolingDown(), false);
});

test("peers that fail after coming leave the file to the origin, without a cooldown", async () => {
  const { file, data } = makeFile(8 * 16384);
  const { ctx, state } = setup(data, { originGapMs: 30, peersAfterMs: 50, peersFail: true });
  const got = await smallFile(ctx, file);
  assert.equal(got.source, "origin");
  assert.deepEqual(got.bytes, data);
  assert.equal(state.peerReads, 1);
  assert.equal(ctx.meters.coolingDown(), false);
});

test("a file under OVERTAKE_BYTES stays with the origin", async () => {
  const { file, data } = makeFile(OVERTAKE_BYTES - 1);
  const { ctx, state } = setup(data, { originGapMs: 50, peersAfterMs: 10 });
  const got = await smallFile(ctx, file);
  assert.equal(got.source, "origin");
  assert.equal(state.peerReads, 0);
});

test("the HTTP cache's copy is taken at once; one older than the build is fetched again from the origin", async () => {
  const { file, data } = makeFile(4 * 16384);
  const { ctx } = setup(data, { originGapMs: 1, peersAfterMs: Infinity });
  const modes = [];
  const stale = data.map((b) => b ^ 1);
  globalThis.fetch = async (_url, { cache }) => {
    modes.push(cache);
    // The cache holds a copy from before the build; the origin has the build's bytes.
    return new Response(cache === "default" ? stale : data, { status: 200 });
  };
  const got = await smallFile(ctx, file);
  assert.equal(got.source, "origin");
  assert.deepEqual(got.bytes, data);
  assert.deepEqual(modes, ["default", "no-cache"]);
  assert.equal(ctx.counters.bytes.origin, data.length);
  assert.equal(ctx.counters.rejected.origin, data.length);
});
