// The OPFS store layout, quota eviction and meta.json, against an in-memory OPFS.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Store, evictionOrder } from "../sw/store.js";
import { FakeRoot } from "./sw-fake-opfs.mjs";

const bytes = (n, v = 1) => new Uint8Array(n).fill(v);

function makeStore(quota) {
  const fs = new FakeRoot(quota);
  let t = 1000;
  const store = new Store(async () => fs.root, { now: () => t++, slack: 0 });
  return { fs, store };
}

test("pieces and files land in the documented layout", async () => {
  const { fs, store } = makeStore();
  assert.equal(await store.writePiece("ab".repeat(20), 3, bytes(5)), true);
  assert.equal(await store.writeFile("cd".repeat(32), bytes(2)), true);
  const top = await fs.root.getDirectoryHandle("planktos-v1");
  const piece = await (await (await top.getDirectoryHandle("p")).getDirectoryHandle("ab".repeat(20))).getFileHandle("3");
  assert.equal(piece.size(), 5);
  await (await top.getDirectoryHandle("f")).getFileHandle("cd".repeat(32));
  assert.deepEqual(await store.readPiece("ab".repeat(20), 3), bytes(5));
  assert.equal(await store.readPiece("ab".repeat(20), 4), null);
  assert.equal((await store.pieceIndexes("ab".repeat(20))).has(3), true);
  assert.equal((await store.pieceIndexes("ef".repeat(20))).has(0), false);
  await store.writePiece("ab".repeat(20), 10, bytes(1));
  assert.deepEqual([...(await store.pieceIndexes("ab".repeat(20)))].sort(), [10, 3]);
  assert.deepEqual(await store.pieceIndexes("ef".repeat(20)), new Set());
  assert.deepEqual(await store.readFile("cd".repeat(32)), bytes(2));
  await store.flushMeta();
  const meta = JSON.parse(new TextDecoder().decode((await top.getFileHandle("meta.json")).bytes));
  assert.equal(meta.version, 1);
  assert.ok(meta.used[`p/${"ab".repeat(20)}`] > 0);
  assert.ok(meta.used[`f/${"cd".repeat(32)}`] > 0);
});

test("reads of a missing store miss quietly", async () => {
  const store = new Store(async () => {
    throw new Error("no OPFS");
  });
  assert.equal(await store.readPiece("x", 0), null);
  assert.equal(await store.readFile("y"), null);
  assert.equal(await store.writeFile("y", bytes(1)), false);
});

test("on QuotaExceededError unused entries go first, least recently used first, then the write is retried", async () => {
  const { fs, store } = makeStore(3200);
  await store.writePiece("kept", 0, bytes(1000)); // used first, but in a kept snapshot
  await store.writePiece("old", 0, bytes(1000));
  await store.writePiece("newer", 0, bytes(1000));
  await store.readPiece("old", 0); // read again: now the most recent unused one
  await new Promise((r) => setTimeout(r, 5)); // touches are asynchronous
  const keep = () => ({ infohashes: new Set(["kept", "target"]), files: new Set() });
  assert.equal(await store.writePiece("target", 0, bytes(500), keep), true);
  assert.equal((await store.pieceIndexes("newer")).has(0), false);
  assert.equal((await store.pieceIndexes("old")).has(0), true);
  assert.equal((await store.pieceIndexes("target")).has(0), true);
  assert.equal((await store.pieceIndexes("kept")).has(0), true);
  assert.ok(fs.used() <= 3000);
});

test("a write that cannot fit after eviction fails without throwing", async () => {
  const { store } = makeStore(100);
  assert.equal(await store.writeFile("big", bytes(500)), false);
});

test("clear removes planktos-v1", async () => {
  const { fs, store } = makeStore();
  await store.writeFile("a", bytes(3));
  await store.clear();
  assert.equal(fs.root.children.has("planktos-v1"), false);
  assert.equal(await store.readFile("a"), null);
});

test("evictionOrder: not kept first, then oldest", () => {
  const units = [
    { unit: "p/a", kept: true },
    { unit: "p/b", kept: false },
    { unit: "f/c", kept: false },
    { unit: "p/d", kept: true },
  ];
  const used = { "p/a": 5, "p/b": 9, "f/c": 2, "p/d": 1 };
  assert.deepEqual(evictionOrder(units, used).map((u) => u.unit), ["f/c", "p/b", "p/d", "p/a"]);
});
