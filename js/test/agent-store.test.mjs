// OpfsStore (the agent's WebTorrent chunk store) against the in-memory OPFS of the SW tests.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeRoot } from "./sw-fake-opfs.mjs";

const fake = new FakeRoot(200_000);
// The fake's File has no slice(); a real Blob does what OPFS Files do.
const sample = (await fake.root.getFileHandle("probe", { create: true })).constructor.prototype;
sample.getFile = async function getFile() {
  return new Blob([this.bytes]);
};
await fake.root.removeEntry("probe");
globalThis.navigator = {
  storage: {
    getDirectory: async () => fake.root,
    estimate: async () => ({ usage: fake.used(), quota: fake.quota }),
  },
};
const { OpfsStore } = await import("../agent/store.js");
const { setCurrentInfohashes } = await import("../agent/opfs.js");

const IH = "1".repeat(40);
const OTHER = "2".repeat(40);
const call = (fn) => new Promise((resolve) => fn((err, value) => resolve({ err, value })));
const bytes = (n, fill) => new Uint8Array(n).fill(fill);

test("pieces round-trip through planktos-v1/p/<infohash>/<index>, sliced on get", async () => {
  const store = new OpfsStore(10, { torrent: { infoHash: IH }, length: 25 });
  assert.equal(store.chunkLength, 10);
  assert.equal((await call((cb) => store.put(0, bytes(10, 7), cb))).err, null);
  assert.equal((await call((cb) => store.put(2, bytes(5, 9), cb))).err, null);
  const top = await fake.root.getDirectoryHandle("planktos-v1");
  const dir = await (await top.getDirectoryHandle("p")).getDirectoryHandle(IH);
  assert.equal((await (await dir.getFileHandle("2")).getFile()).size, 5);
  assert.deepEqual([...(await call((cb) => store.get(0, cb))).value], [...bytes(10, 7)]);
  assert.deepEqual([...(await call((cb) => store.get(0, { offset: 8, length: 2 }, cb))).value], [7, 7]);
  assert.deepEqual([...(await call((cb) => store.get(2, null, cb))).value], [...bytes(5, 9)]);
});

test("missing pieces, wrong sizes and bad ranges are errors", async () => {
  const store = new OpfsStore(10, { torrent: { infoHash: IH }, length: 25 });
  const missing = await call((cb) => store.get(1, cb));
  assert.equal(missing.err.notFound, true);
  assert.match((await call((cb) => store.put(1, bytes(9, 1), cb))).err.message, /must be 10 bytes/);
  assert.match((await call((cb) => store.put(2, bytes(10, 1), cb))).err.message, /must be 5 bytes/);
  assert.match((await call((cb) => store.get(0, { offset: 5, length: 6 }, cb))).err.message, /bad range/);
  store.close();
  assert.match((await call((cb) => store.get(0, cb))).err.message, /closed/);
});

test("a full quota evicts other infohashes first, then retries", async () => {
  setCurrentInfohashes([IH]);
  const other = new OpfsStore(50_000, { torrent: { infoHash: OTHER }, length: 150_000 });
  for (const i of [0, 1, 2]) assert.equal((await call((cb) => other.put(i, bytes(50_000, i), cb))).err, null);
  const store = new OpfsStore(60_000, { torrent: { infoHash: IH }, length: 120_000 });
  assert.equal((await call((cb) => store.put(0, bytes(60_000, 3), cb))).err, null);
  const p = await (await fake.root.getDirectoryHandle("planktos-v1")).getDirectoryHandle("p");
  const left = [];
  for await (const name of p.keys()) left.push(name);
  assert.deepEqual(left, [IH]);
  assert.equal((await call((cb) => store.get(0, cb))).value.byteLength, 60_000);
});

test("a write that fails even after eviction keeps the piece in memory: no failed response", async () => {
  const store = new OpfsStore(300_000, { torrent: { infoHash: IH }, length: 300_000 });
  assert.equal((await call((cb) => store.put(0, bytes(300_000, 5), cb))).err, null);
  const got = await call((cb) => store.get(0, { offset: 299_999, length: 1 }, cb));
  assert.deepEqual([...got.value], [5]);
});

test("a listing asks the size of unknown entries only, skips empty ones, and remembers across agents", async () => {
  const ih = "3".repeat(40);
  const kept = new Map();
  globalThis.localStorage = {
    getItem: (k) => kept.get(k) ?? null,
    setItem: (k, v) => kept.set(k, String(v)),
    removeItem: (k) => kept.delete(k),
  };
  const store = new OpfsStore(10, { torrent: { infoHash: ih }, length: 30 });
  assert.equal((await call((cb) => store.put(0, bytes(10, 1), cb))).err, null);
  const top = await fake.root.getDirectoryHandle("planktos-v1");
  const dir = await (await top.getDirectoryHandle("p")).getDirectoryHandle(ih);
  const one = await dir.getFileHandle("1", { create: true }); // a write under way: empty
  await (await one.createWritable()).close();
  const two = await dir.getFileHandle("2", { create: true });
  const w = await two.createWritable();
  await w.write(bytes(10, 2));
  await w.close();
  let sized = 0;
  const getFile = sample.getFile;
  sample.getFile = function counted() {
    sized += 1;
    return getFile.call(this);
  };
  try {
    const { storedPieces } = await import("../agent/opfs.js");
    assert.deepEqual((await storedPieces(ih)).sort(), [0, 2]);
    assert.equal(sized, 2); // 1 and 2: piece 0 was written by this agent
    sized = 0;
    assert.deepEqual((await storedPieces(ih)).sort(), [0, 2]);
    assert.equal(sized, 1); // only the empty one again
    await new Promise((resolve) => setTimeout(resolve, 1100)); // saved for the next page's agent
    assert.deepEqual(kept.get(`planktos-whole:${ih}`).split(",").map(Number).sort(), [0, 2]);
    await dir.removeEntry("2"); // gone (eviction): forgotten
    assert.deepEqual(await storedPieces(ih), [0]);
  } finally {
    sample.getFile = getFile;
    delete globalThis.localStorage;
  }
});
