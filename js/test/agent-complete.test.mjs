import assert from "node:assert/strict";
import { test } from "node:test";
import { missingPieces, needWebSeed, PEER_WAIT_MS } from "../agent/complete.js";

test("missing pieces of a range", () => {
  assert.deepEqual(missingPieces(2, 5, (i) => i === 3), [2, 4, 5]);
  assert.deepEqual(missingPieces(2, 2, () => true), []);
});

test("the web seed only when nothing is missing from peers after the wait, and no read is open", () => {
  const base = { missing: 1, peersHolding: 0, ageMs: PEER_WAIT_MS, busy: false };
  assert.equal(needWebSeed(base), true);
  assert.equal(needWebSeed({ ...base, missing: 0 }), false);
  assert.equal(needWebSeed({ ...base, peersHolding: 1 }), false);
  assert.equal(needWebSeed({ ...base, ageMs: PEER_WAIT_MS - 1 }), false);
  assert.equal(needWebSeed({ ...base, busy: true }), false);
});
