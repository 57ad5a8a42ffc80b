// The agent's uses of private internals (js/agent/internals.js) were written against exact
// versions: this fails loudly when an upgrade changes a version or removes what they use.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { EventEmitter } from "node:events";
import { FITS, onSwarmCounts, PINNED } from "../agent/internals.js";

// Files, not modules: these packages export no package.json nor their internals.
const MODULES = new URL("../../node_modules/", import.meta.url);
const source = (path) => readFileSync(new URL(path, MODULES), "utf8");

test("the installed WebTorrent, torrent-discovery and bittorrent-tracker are the pinned ones", () => {
  const installed = Object.fromEntries(
    Object.keys(PINNED).map((name) => [name, JSON.parse(source(`${name}/package.json`)).version]),
  );
  assert.deepEqual(installed, PINNED, "upgraded: check every function of js/agent/internals.js, then PINNED");
  assert.equal(FITS, true);
});

test("the private members internals.js uses are still there", () => {
  const torrent = source("webtorrent/lib/torrent.js");
  assert.match(torrent, /\n {2}_markVerified \(index\) \{/);
  // startPipeline(): the pipeline is sized from the wire's speed, 0.5 s of it at least.
  assert.match(torrent, /let length = 2 \+ Math\.ceil\(duration \* wire\.downloadSpeed\(\) \/ Piece\.BLOCK_LENGTH\)/);
  assert.match(torrent, /const PIPELINE_MIN_DURATION = 0\.5\n/);
  const discovery = source("torrent-discovery/index.js");
  assert.match(discovery, /this\._announce = opts\.announce/);
  assert.match(discovery, /\n {2}_createTracker \(\) \{/);
  // onSwarmCounts(): discovery starts in _startDiscovery, the tracker client is made by
  // _createTracker, and its "update" carries the counts.
  assert.match(torrent, /\n {2}_startDiscovery \(\) \{\s*if \(this\.discovery \|\| this\.destroyed\) return/);
  assert.match(discovery, /tracker\.on\('update', this\._onTrackerAnnounce\)/);
  const client = source("bittorrent-tracker/client.js");
  assert.match(client, /this\._trackers = announce/);
  const ws = source("bittorrent-tracker/lib/client/websocket-tracker.js");
  // The reconnection that whenTrackerLost() pre-empts: skipped when the tracker is destroyed.
  assert.match(ws, /_onSocketClose \(\) \{\s*if \(this\.destroyed\) return/);
  assert.match(ws, /_onSocketError \(err\) \{\s*if \(this\.destroyed\) return/);
  assert.match(ws, /this\.socket\.once\('close', this\._onSocketCloseBound\)/);
  assert.match(ws, /if \(data\.complete != null\) \{[\s\S]{0,200}?this\.client\.emit\('update', response\)/);
  // quietSend(): the socket's send goes straight to its WebSocket `_ws`.
  const socket = source("@thaunknown/simple-websocket/index.js");
  assert.match(socket, /\n {2}send \(chunk\) \{\r?\n {4}this\._ws\.send\(chunk\)\r?\n {2}\}/);
});

test("onSwarmCounts: the peers a tracker counts besides this one, from every tracker client the torrent makes", () => {
  const made = [];
  const discovery = {
    _createTracker() {
      const tracker = new EventEmitter();
      made.push(tracker);
      return tracker;
    },
  };
  const torrent = {
    discovery: null,
    _startDiscovery() {
      this.discovery = discovery;
      discovery.tracker = discovery._createTracker();
    },
  };
  const seen = [];
  assert.equal(onSwarmCounts(torrent, (n) => seen.push(n)), true);
  torrent._startDiscovery();
  made[0].emit("update", { complete: 2, incomplete: 1 });
  made[0].emit("update", { complete: 0, incomplete: 1 }); // this peer alone
  made[0].emit("update", { complete: null }); // no counts: ignored
  torrent.discovery.tracker = torrent.discovery._createTracker(); // setTrackers()
  made[1].emit("update", { complete: 4, incomplete: 0 });
  assert.deepEqual(seen, [2, 0, 3]);
  // Discovery already started (the torrent was added from a store check that ran at once).
  const late = { discovery: { tracker: new EventEmitter(), _createTracker: () => null }, _startDiscovery() {} };
  const counts = [];
  onSwarmCounts(late, (n) => counts.push(n));
  late.discovery.tracker.emit("update", { complete: 1, incomplete: 1 });
  assert.deepEqual(counts, [1]);
});
