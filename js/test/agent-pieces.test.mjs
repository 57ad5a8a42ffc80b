import assert from "node:assert/strict";
import { test } from "node:test";
import { evictionOrder } from "../agent/eviction.js";
import { bitfieldOf, pieceIndexOf, pieceSize, sliceOf } from "../agent/pieces.js";

test("piece sizes at the edges: k pieces of n bytes, minus and plus one byte", () => {
  const n = 16384;
  for (const k of [1, 2, 3]) {
    assert.equal(pieceSize(k - 1, n, k * n), n);
    assert.equal(pieceSize(k - 1, n, k * n - 1), n - 1);
    assert.equal(pieceSize(k, n, k * n + 1), 1);
    assert.equal(pieceSize(k - 1, n, k * n + 1), n);
    assert.equal(pieceSize(k, n, k * n), 0); // past the end
  }
  assert.equal(pieceSize(-1, n, n), 0);
  assert.equal(pieceSize(0.5, n, n), 0);
});

test("store file names: decimal piece indexes only", () => {
  assert.equal(pieceIndexOf("0"), 0);
  assert.equal(pieceIndexOf("17"), 17);
  for (const name of ["", "01", "-1", "1.0", "x", ".tmp-1", "1 "]) assert.equal(pieceIndexOf(name), null, name);
});

test("get options map to a slice of the piece", () => {
  assert.deepEqual(sliceOf(undefined, 10), { offset: 0, length: 10 });
  assert.deepEqual(sliceOf(null, 10), { offset: 0, length: 10 });
  assert.deepEqual(sliceOf({ offset: 3 }, 10), { offset: 3, length: 7 });
  assert.deepEqual(sliceOf({ offset: 3, length: 7 }, 10), { offset: 3, length: 7 });
  assert.deepEqual(sliceOf({ length: 4 }, 10), { offset: 0, length: 4 });
  assert.deepEqual(sliceOf({ offset: 10, length: 0 }, 10), { offset: 10, length: 0 });
  assert.equal(sliceOf({ offset: 3, length: 8 }, 10), null);
  assert.equal(sliceOf({ offset: -1 }, 10), null);
  assert.equal(sliceOf({ offset: 11 }, 10), null);
});

test("bitfields are most significant bit first, sized to the piece count", () => {
  assert.deepEqual([...bitfieldOf([0, 7, 8], 9)], [0x81, 0x80]);
  assert.deepEqual([...bitfieldOf([], 16)], [0, 0]);
  assert.deepEqual([...bitfieldOf([3, 99, -1], 8)], [0x10]);
  assert.equal(bitfieldOf([], 17).length, 3);
});

test("eviction: not in the current manifest first, then least recently used", () => {
  const keep = new Set(["c", "d"]);
  const used = { a: 50, b: 10, c: 5, d: 40 };
  assert.deepEqual(evictionOrder(["a", "b", "c", "d", "e"], used, keep), ["e", "b", "a", "c", "d"]);
  assert.deepEqual(evictionOrder(["a", "b", "c"], used, keep, "b"), ["a", "c"]);
});
