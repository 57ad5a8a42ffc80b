import assert from "node:assert/strict";
import { test } from "node:test";
import { EventEmitter } from "node:events";
import { bitsOf, isSettled, REPORT_MS, reportHaves, unionOf } from "../agent/haves.js";

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

test("settled: the tracker answered and counted no other peer", () => {
  assert.equal(isSettled(undefined), false); // no tracker answer yet
  assert.equal(isSettled(0), true); // alone in the swarm
  assert.equal(isSettled(1), false);
});

test("reportHaves: a swarm is settled while its tracker counts nobody else", async () => {
  const client = new EventEmitter();
  client.torrents = [];
  const posted = [];
  reportHaves(client, (msg) => posted.push(msg));
  // A torrent as WebTorrent adds it: discovery (and its tracker client) starts later.
  const tracker = new EventEmitter();
  const torrent = new EventEmitter();
  Object.assign(torrent, {
    infoHash: "a".repeat(40),
    pieces: new Array(8).fill({}),
    wires: [],
    ready: false,
    discovery: null,
    _startDiscovery() {
      this.discovery = { tracker, _createTracker: () => new EventEmitter() };
    },
  });
  client.torrents.push(torrent);
  client.emit("add", torrent);
  torrent._startDiscovery();
  torrent.ready = true;
  client.emit("torrent", torrent);
  const settle = () => new Promise((resolve) => setTimeout(resolve, REPORT_MS + 20));
  await settle();
  assert.equal(posted.at(-1).settled, false); // no tracker answer yet
  tracker.emit("update", { complete: 0, incomplete: 1 }); // this peer alone
  await settle();
  assert.equal(posted.at(-1).settled, true);
  tracker.emit("update", { complete: 1, incomplete: 1 }); // someone joined
  await settle();
  assert.equal(posted.at(-1).settled, false);
  const wire = new EventEmitter();
  wire.peerPieces = { buffer: new Uint8Array([0x80]), get: (i) => i === 0 };
  torrent.wires.push(wire);
  torrent.emit("wire", wire);
  wire.emit("bitfield");
  await settle();
  assert.deepEqual({ ...posted.at(-1), have: [...posted.at(-1).have] }, { type: "peers", infohash: "a".repeat(40), have: [0x80], settled: false });
});
