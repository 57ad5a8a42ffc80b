import assert from "node:assert/strict";
import { test } from "node:test";
import { addCounters, newCounters, rejected, took } from "../sw/counters.js";

test("counters count bytes by source and rejections", () => {
  const c = newCounters();
  took(c, "origin", 10);
  took(c, "peer", 5);
  rejected(c, "peer", 7);
  assert.deepEqual(c.bytes, { store: 0, peer: 5, origin: 10 });
  assert.deepEqual(c.rejected, { count: 1, bytes: 7, store: 0, peer: 7, origin: 0 });
});

test("saved counters add into live ones; unknown or malformed fields are ignored", () => {
  const c = newCounters();
  took(c, "store", 3);
  addCounters(c, { bytes: { store: 4, peer: "x" }, served: 9, bogus: 1, requests: null });
  assert.equal(c.bytes.store, 7);
  assert.equal(c.bytes.peer, 0);
  assert.equal(c.served, 9);
  assert.equal("bogus" in c, false);
  assert.deepEqual(addCounters(newCounters(), null), newCounters());
});
