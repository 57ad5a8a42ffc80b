// Snapshot pinning: one page never mixes builds; unused snapshots are dropped.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Snapshots, deadlineMs, isUsableManifest } from "../sw/snapshots.js";

const manifest = (build, infohash = `ih-${build}`, sha = `sha-${build}`) => ({
  format: "planktos-manifest",
  version: 2,
  build,
  index: { shards: { s: { infohash } }, files: { "index.html": { shard: "s", sha256: sha } } },
});

test("a navigation's client keeps its snapshot after a newer one arrives", () => {
  const s = new Snapshots();
  const a = s.add(manifest("a"));
  s.pin("page1", "a");
  s.add(manifest("b"));
  s.pin("page2", "b");
  assert.equal(s.forClient("page1"), a);
  assert.equal(s.forClient("page2").build, "b");
  assert.equal(s.currentManifest().build, "b");
});

test("an unknown client is pinned to the current snapshot and stays there", () => {
  const s = new Snapshots();
  s.add(manifest("a"));
  assert.equal(s.forClient("claimed").build, "a");
  s.add(manifest("b"));
  assert.equal(s.forClient("claimed").build, "a");
  assert.equal(s.forClient("").build, "b"); // no client id: current
});

test("adding the same build again keeps the first object", () => {
  const s = new Snapshots();
  const a = s.add(manifest("a"));
  assert.equal(s.add(manifest("a")), a);
});

test("pinning to an unknown build does nothing", () => {
  const s = new Snapshots();
  s.add(manifest("a"));
  s.pin("p", "zzz");
  assert.equal(s.forClient("p").build, "a");
});

test("prune drops gone clients and snapshots nobody uses", () => {
  const s = new Snapshots({ graceMs: 0 });
  s.add(manifest("a"));
  s.pin("p1", "a");
  s.add(manifest("b"));
  s.pin("p2", "b");
  s.add(manifest("c"));
  assert.deepEqual(s.prune(["p1"]), ["b"]);
  assert.deepEqual([...s.manifests.keys()], ["a", "c"]);
  assert.deepEqual(s.prune([]), ["a"]);
  assert.deepEqual([...s.manifests.keys()], ["c"]);
  assert.deepEqual(s.state(), { current: "c", pins: {}, tables: {} });
});

test("prune keeps a fresh pin whose client is not listed yet", () => {
  let t = 0;
  const s = new Snapshots({ now: () => t, graceMs: 1000 });
  s.add(manifest("a"));
  s.pin("navigating", "a");
  s.add(manifest("b"));
  t = 999;
  assert.deepEqual(s.prune([]), []);
  assert.equal(s.forClient("navigating").build, "a");
  t = 1001;
  assert.deepEqual(s.prune([]), ["a"]);
});

test("inUse lists the info hashes and files of kept snapshots", () => {
  const s = new Snapshots();
  s.add(manifest("a"));
  s.pin("p", "a");
  s.add(manifest("b"));
  const { infohashes, files } = s.inUse();
  assert.deepEqual([...infohashes].sort(), ["ih-a", "ih-b"]);
  assert.deepEqual([...files].sort(), ["sha-a", "sha-b"]);
});

test("inUse also lists what the tables a snapshot used hold; dropped snapshots' tables go", () => {
  const s = new Snapshots();
  const leaf = { shards: { s: { infohash: "ih-t" } }, files: { "x.html": { shard: "s", sha256: "sha-t" } } };
  s.nodeOf = (sha) => (sha === "t1" ? leaf : undefined);
  s.add({ ...manifest("a"), index: { tables: [["", "t1"]] } });
  assert.ok(s.useTables("a", ["t1"]));
  assert.ok(!s.useTables("a", ["t1"]));
  assert.deepEqual([...s.inUse().infohashes], ["ih-t"]);
  assert.deepEqual([...s.tablesInUse()], ["t1"]);
  s.add(manifest("b"));
  s.prune([]);
  assert.deepEqual([...s.tablesInUse()], []);
});

test("state round-trips the pins and the tables used", () => {
  const s = new Snapshots();
  s.add(manifest("a"));
  s.pin("p", "a");
  s.useTables("a", ["t1"]);
  s.add(manifest("b"));
  const t = new Snapshots();
  t.restore(manifest("a"));
  t.add(manifest("b"));
  t.loadPins(s.state());
  assert.equal(t.forClient("p").build, "a");
  assert.deepEqual([...t.tablesInUse()], ["t1"]);
});

test("state round-trips the pins (no tables)", () => {
  const s = new Snapshots();
  s.add(manifest("a"));
  s.pin("p", "a");
  s.add(manifest("b"));
  const t = new Snapshots();
  t.restore(manifest("a"));
  t.add(manifest("b"));
  t.loadPins(s.state());
  assert.equal(t.forClient("p").build, "a");
});

test("isUsableManifest refuses other formats and versions", () => {
  assert.ok(isUsableManifest(manifest("a")));
  assert.ok(isUsableManifest({ ...manifest("a"), index: { tables: [] } }));
  assert.ok(isUsableManifest({ format: "planktos-manifest", version: 2, build: "x", uninstalled: true }));
  assert.ok(!isUsableManifest({ ...manifest("a"), version: 1 }));
  assert.ok(!isUsableManifest({ ...manifest("a"), version: 3 }));
  assert.ok(!isUsableManifest({ ...manifest("a"), format: "other" }));
  assert.ok(!isUsableManifest({ ...manifest("a"), index: { files: [], shards: {} } }));
  assert.ok(!isUsableManifest({ format: "planktos-manifest", version: 1, build: "x", files: {}, shards: {} }));
  assert.ok(!isUsableManifest(null));
  assert.ok(!isUsableManifest("x"));
});

test("deadlineMs defaults to 2500", () => {
  assert.equal(deadlineMs({ runtime: { deadline_ms: 700 } }), 700);
  assert.equal(deadlineMs({ runtime: {} }), 2500);
  assert.equal(deadlineMs({}), 2500);
  assert.equal(deadlineMs({ runtime: { deadline_ms: "x" } }), 2500);
});
