import assert from "node:assert/strict";
import { test } from "node:test";
import { bitsOf, isSettled, unionOf } from "../agent/haves.js";

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

test("settled: the tracker answered and the peers heard from cover those its offers reach", () => {
  assert.equal(isSettled(undefined, 3), false); // no tracker answer yet
  assert.equal(isSettled(0, 0), true); // alone in the swarm
  assert.equal(isSettled(2, 1), false);
  assert.equal(isSettled(2, 2), true);
  assert.equal(isSettled(9, 4), false);
  assert.equal(isSettled(9, 5), true); // an announce's offers reach 5 of them
});
