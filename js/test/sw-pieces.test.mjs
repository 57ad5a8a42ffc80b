// Piece and offset arithmetic, at piece size × k − 1, k and k + 1.
import assert from "node:assert/strict";
import { test } from "node:test";
import { alignedRange, filePieces, pieceBounds, pieceCount, piecesCovering } from "../sw/pieces.js";

const PL = 16384;

test("pieceCount at the edges", () => {
  assert.equal(pieceCount(1, PL), 1);
  assert.equal(pieceCount(PL - 1, PL), 1);
  assert.equal(pieceCount(PL, PL), 1);
  assert.equal(pieceCount(PL + 1, PL), 2);
  assert.equal(pieceCount(3 * PL, PL), 3);
});

test("pieceBounds clips the last piece", () => {
  assert.deepEqual(pieceBounds(0, PL, PL + 1), { start: 0, end: PL });
  assert.deepEqual(pieceBounds(1, PL, PL + 1), { start: PL, end: PL + 1 });
  assert.deepEqual(pieceBounds(2, PL, 3 * PL), { start: 2 * PL, end: 3 * PL });
});

test("piecesCovering", () => {
  assert.deepEqual(piecesCovering(0, 0, PL), { first: 0, last: 0 });
  assert.deepEqual(piecesCovering(PL - 1, PL - 1, PL), { first: 0, last: 0 });
  assert.deepEqual(piecesCovering(PL - 1, PL, PL), { first: 0, last: 1 });
  assert.deepEqual(piecesCovering(PL, PL, PL), { first: 1, last: 1 });
  assert.deepEqual(piecesCovering(PL + 1, 3 * PL - 1, PL), { first: 1, last: 2 });
});

test("filePieces of small files sharing pieces", () => {
  assert.deepEqual(filePieces(0, 3000, PL), { first: 0, last: 0 });
  assert.deepEqual(filePieces(3000, PL - 3000, PL), { first: 0, last: 0 });
  assert.deepEqual(filePieces(3000, PL - 2999, PL), { first: 0, last: 1 });
  assert.deepEqual(filePieces(PL, 1, PL), { first: 1, last: 1 });
  assert.deepEqual(filePieces(PL - 1, PL + 2, PL), { first: 0, last: 2 });
});

test("alignedRange widens a Range to whole pieces, clipped to the file", () => {
  const len = 3 * PL + 1;
  assert.deepEqual(alignedRange(0, 0, PL, len), { first: 0, last: 0, start: 0, end: PL - 1 });
  assert.deepEqual(alignedRange(PL - 1, PL, PL, len), { first: 0, last: 1, start: 0, end: 2 * PL - 1 });
  assert.deepEqual(alignedRange(PL, PL, PL, len), { first: 1, last: 1, start: PL, end: 2 * PL - 1 });
  assert.deepEqual(alignedRange(len - 1, len - 1, PL, len), { first: 3, last: 3, start: 3 * PL, end: len - 1 });
  assert.deepEqual(alignedRange(0, len - 1, PL, len), { first: 0, last: 3, start: 0, end: len - 1 });
  assert.deepEqual(alignedRange(2 * PL + 5, 3 * PL - 1, PL, 3 * PL), { first: 2, last: 2, start: 2 * PL, end: 3 * PL - 1 });
});

test("large-file windows: one piece for the first 512 KiB read, then doubling up to 2 MiB", async () => {
  const { windowPieces, MAX_WINDOW_BYTES, SINGLE_BYTES } = await import("../sw/large.js");
  assert.equal(SINGLE_BYTES, 512 * 1024);
  assert.equal(MAX_WINDOW_BYTES, 2 * 1024 * 1024);
  const K = 65536;
  assert.equal(windowPieces(0, 0, K), 1);
  assert.equal(windowPieces(7 * K, 1, K), 1);
  assert.equal(windowPieces(8 * K, 1, K), 2);
  assert.equal(windowPieces(10 * K, 2, K), 4);
  assert.equal(windowPieces(100 * K, 16, K), 32);
  assert.equal(windowPieces(200 * K, 32, K), 32);
  assert.equal(windowPieces(0, 0, 4 << 20), 1);
  assert.equal(windowPieces(8 << 20, 1, 4 << 20), 1);
});

test("an origin run gives way to peers past the first 512 KiB, when they hold the rest, unless they just failed", async () => {
  const { peersTakeOver, SINGLE_BYTES } = await import("../sw/large.js");
  const base = { readBytes: SINGLE_BYTES, held: true, coolingDown: false };
  assert.equal(peersTakeOver(base), true);
  assert.equal(peersTakeOver({ ...base, readBytes: SINGLE_BYTES - 1 }), false); // what playback waits for
  assert.equal(peersTakeOver({ ...base, held: false }), false);
  assert.equal(peersTakeOver({ ...base, coolingDown: true }), false);
});
