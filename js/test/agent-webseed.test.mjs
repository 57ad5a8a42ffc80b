import assert from "node:assert/strict";
import { test } from "node:test";
import { PEER_WAIT_MS, STALL_MS, needWebSeed } from "../agent/webseed.js";

const base = { missing: 3, peersWithPieces: 0, alone: false, ageMs: 0, stalledMs: 0 };

test("nothing missing: never", () => {
  assert.equal(needWebSeed({ ...base, missing: 0, alone: true, ageMs: 1e6, stalledMs: 1e6 }), false);
});

test("alone in the swarm: at once", () => {
  assert.equal(needWebSeed({ ...base, alone: true }), true);
});

test("a fresh torrent waits for its first peers, then uses the web seed", () => {
  assert.equal(needWebSeed({ ...base, ageMs: PEER_WAIT_MS - 1 }), false);
  assert.equal(needWebSeed({ ...base, ageMs: PEER_WAIT_MS }), true);
});

test("peers that have the pieces are used until they stall", () => {
  const peers = { ...base, peersWithPieces: 1, ageMs: 1e6 };
  assert.equal(needWebSeed({ ...peers, alone: true, stalledMs: STALL_MS - 1 }), false);
  assert.equal(needWebSeed({ ...peers, stalledMs: STALL_MS }), true);
});
