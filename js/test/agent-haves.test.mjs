import assert from "node:assert/strict";
import { test } from "node:test";
import { unionOf } from "../agent/haves.js";

test("the union of the peers' bitfields, cut or padded to the torrent's size", () => {
  assert.deepEqual(unionOf([], 2), new Uint8Array(2));
  assert.deepEqual(unionOf([new Uint8Array([0x80, 0x01]), new Uint8Array([0x40])], 2), new Uint8Array([0xc0, 0x01]));
  assert.deepEqual(unionOf([new Uint8Array([1, 2, 3]), undefined], 2), new Uint8Array([1, 2]));
});
