// js/agent/guard.js against stand-ins for WebTorrent's torrent and wires (EventEmitters with
// the members guard.js reads); the real thing: tests/browser/test_bad_peer.py.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import { exactStream } from "../agent/exact-stream.js";
import { failedPiece, guardTorrent, unheldPiece } from "../agent/guard.js";

const bits = (...have) => ({ get: (i) => have.includes(i) });

function wire(peerId, ...have) {
  const w = new EventEmitter();
  Object.assign(w, { peerId, type: "webrtc", destroyed: false, peerPieces: bits(...have) });
  w.destroy = () => {
    if (w.destroyed) return;
    w.destroyed = true;
    w.emit("close");
  };
  return w;
}

function torrent() {
  const t = new EventEmitter();
  const added = [];
  Object.assign(t, { pieceLength: 100, length: 250, bitfield: bits(), wires: [], destroyed: false, added });
  t._peers = new Map(); // tracker id -> WebTorrent's Peer ({id, wire})
  t.addPeer = (peer) => {
    added.push(peer.id);
    return true;
  };
  t.connect = (w, trackerId = w.peerId) => {
    t._peers.set(trackerId, { id: trackerId, wire: w });
    t.wires.push(w);
    t.emit("wire", w);
  };
  return t;
}

const counters = () => ({ bytesFromPeers: 0, bytesRejected: 0, piecesRejected: 0, peersDropped: 0, peersRefused: 0 });
const block = (n) => new Uint8Array(n);

test("failedPiece reads WebTorrent's warning", () => {
  assert.equal(failedPiece(new Error("Piece 12 failed verification")), 12);
  assert.equal(failedPiece(new Error("ignoring duplicate web seed: x")), null);
  assert.equal(failedPiece(undefined), null);
});

test("unheldPiece: the first piece neither had nor held by a live peer", () => {
  const t = torrent();
  t.bitfield = bits(0);
  t.wires = [wire("a", 1), Object.assign(wire("b", 2), { destroyed: true }), Object.assign(wire("w", 2), { type: "webSeed" })];
  assert.equal(unheldPiece(t, 0, 1), null);
  assert.equal(unheldPiece(t, 0, 2), 2);
});

test("a peer that sent a bad piece is dropped, refused again, and its bytes count as rejected", async () => {
  const t = torrent();
  const c = counters();
  const losses = [];
  guardTorrent(t, c, (x) => losses.push(x));
  const bad = wire("bad", 0, 1, 2);
  const good = wire("good", 0, 1, 2);
  t.connect(bad, "bad-at-the-tracker"); // libtorrent: a new handshake id per connection
  t.connect(good);
  bad.emit("piece", 1, 0, block(60));
  bad.emit("piece", 1, 60, block(40));
  good.emit("piece", 0, 0, block(100));
  t.emit("verified", 0);
  t.emit("warning", new Error("Piece 1 failed verification"));
  assert.equal(bad.destroyed, true);
  assert.equal(good.destroyed, false);
  assert.deepEqual(c, { bytesFromPeers: 100, bytesRejected: 100, piecesRejected: 1, peersDropped: 1, peersRefused: 0 });
  await Promise.resolve();
  assert.deepEqual(losses, [t, t]); // the drop, and the wire's close
  // The tracker brings it again: refused; a new wire with its handshake id: closed.
  const offered = { id: "bad", destroyed: false, destroy() { this.destroyed = true; } };
  assert.equal(t.addPeer(offered), false);
  assert.equal(offered.destroyed, true);
  assert.equal(t.addPeer({ id: "bad-at-the-tracker", destroy() {} }), false);
  assert.equal(t.addPeer({ id: "other", destroy() {} }), true);
  assert.deepEqual(t.added, ["other"]);
  const again = wire("bad", 1);
  t.connect(again);
  assert.equal(again.destroyed, true);
  assert.equal(c.peersRefused, 3);
  // The piece then from the good peer: only its bytes count, and at most the piece's length.
  good.emit("piece", 1, 0, block(100));
  good.emit("piece", 1, 0, block(100)); // a duplicate block (end game)
  t.emit("verified", 1);
  assert.equal(c.bytesFromPeers, 200);
  // The last piece is short (250 bytes in all).
  good.emit("piece", 2, 0, block(50));
  t.emit("verified", 2);
  assert.equal(c.bytesFromPeers, 250);
  // A piece the store had (no blocks received) adds nothing.
  t.emit("verified", 1);
  assert.equal(c.bytesFromPeers, 250);
});

test("a stream whose source is gone errors at once with the reason", async () => {
  const pending = { next: () => new Promise(() => {}), return: async () => ({ done: true }) };
  const abort = new AbortController();
  let ended = 0;
  const reader = exactStream(pending, 10, () => ended++, abort.signal).getReader();
  const read = reader.read();
  abort.abort(new Error("no connected peer holds piece 3"));
  await assert.rejects(read, /piece 3/);
  assert.equal(ended, 1);
});
