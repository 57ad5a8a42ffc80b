import assert from "node:assert/strict";
import { test } from "node:test";
import { bitsOf, unionOf } from "../agent/haves.js";

test("the union of the peers' bitfields, cut or padded to the torrent's size", () => {
  assert.deepEqual(unionOf([], 2), new Uint8Array(2));
  assert.deepEqual(unionOf([new Uint8Array([0x80, 0x01]), new Uint8Array([0x40])], 2), new Uint8Array([0xc0, 0x01]));
  assert.deepEqual(unionOf([new Uint8Array([1, 2, 3]), undefined], 2), new Uint8Array([1, 2]));
});

test("a peer that sent have-all (BEP 6) holds every piece", () => {
  const haveAll = { buffer: new Uint8Array(), get: () => true };
  assert.deepEqual(bitsOf(haveAll, 2), new Uint8Array([0xff, 0xff]));
  const some = { buffer: new Uint8Array([0x80]), get: (i) => i === 0 };
  assert.deepEqual(bitsOf(some, 1), new Uint8Array([0x80]));
  assert.equal(bitsOf({ buffer: new Uint8Array(), get: () => false }, 1).length, 0);
  assert.equal(bitsOf(undefined, 1), undefined);
});
