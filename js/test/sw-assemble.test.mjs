// Pieces of multi-file shards assembled from verified files (js/sw/assemble.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { boundaryPieces, filesOfShard, fills, overlapping, storeFilePieces } from "../sw/assemble.js";
import { sha256Hex } from "../sw/verify.js";
import { Store } from "../sw/store.js";
import { FakeRoot } from "./sw-fake-opfs.mjs";

const IH = "9".repeat(40);
const bytes = (n, v) => new Uint8Array(n).fill(v);

// Pieces of 16 bytes over A (0..9), E (empty, at 10), B (10..29), C (30..34).
async function site() {
  const data = { A: bytes(10, 1), E: bytes(0, 0), B: bytes(20, 2), C: bytes(5, 3) };
  const offsets = { A: 0, E: 10, B: 10, C: 30 };
  const files = {};
  let index = 0;
  for (const [name, b] of Object.entries(data)) {
    files[name] = { shard: "g", index: index++, offset: offsets[name], length: b.byteLength, sha256: await sha256Hex(b) };
  }
  const manifest = { shards: { g: { infohash: IH, piece_length: 16, length: 35 } }, files };
  const store = new Store(async () => new FakeRoot().root);
  const told = [];
  const pieces = [];
  const agent = { stored: (infohash) => told.push(infohash), piece: (msg) => pieces.push(msg) };
  const ctx = { store, keep: () => ({}), agent, told, pieces };
  const fileOf = (name) => ({ entry: files[name], shard: manifest.shards.g, manifest });
  return { data, manifest, store, ctx, fileOf };
}

const whole = (data) => {
  const out = new Uint8Array(35);
  out.set(data.A, 0);
  out.set(data.B, 10);
  out.set(data.C, 30);
  return out;
};

test("filesOfShard orders by offset; overlapping skips empty files", async () => {
  const { manifest } = await site();
  const entries = filesOfShard(manifest, "g");
  assert.deepEqual(entries.map((e) => e.offset), [0, 10, 10, 30]);
  assert.deepEqual(overlapping(entries, 0, 16).map((e) => e.length), [10, 20]);
  assert.deepEqual(overlapping(entries, 16, 32).map((e) => e.length), [20, 5]);
  assert.deepEqual(overlapping(entries, 32, 35).map((e) => e.length), [5]);
  assert.deepEqual(overlapping(entries, 10, 11).map((e) => e.length), [20]);
});

test("a piece is written once every file in it is verified", async () => {
  const { data, store, ctx, fileOf } = await site();
  await store.writeFile(fileOf("A").entry.sha256, data.A);
  await storeFilePieces(ctx, fileOf("B"), data.B);
  assert.deepEqual([...(await store.pieceIndexes(IH))], [0]); // piece 1 also needs C
  assert.deepEqual(await store.readPiece(IH, 0), whole(data).subarray(0, 16));
  await store.writeFile(fileOf("B").entry.sha256, data.B);
  await storeFilePieces(ctx, fileOf("C"), data.C);
  assert.deepEqual([...(await store.pieceIndexes(IH))].sort(), [0, 1, 2]);
  assert.deepEqual(await store.readPiece(IH, 1), whole(data).subarray(16, 32));
  assert.deepEqual(await store.readPiece(IH, 2), whole(data).subarray(32, 35));
  assert.deepEqual(ctx.told, [IH, IH]); // the agent announces what the worker stored
});

test("a neighbour whose stored bytes do not verify leaves the piece alone", async () => {
  const { data, store, ctx, fileOf } = await site();
  await store.writeFile(fileOf("A").entry.sha256, bytes(10, 9)); // tampered
  await storeFilePieces(ctx, fileOf("B"), data.B);
  assert.equal((await store.pieceIndexes(IH)).has(0), false);
});

test("boundary pieces: assembled from the file, stored neighbours and origin ranges, handed to the agent", async () => {
  const { data, store, ctx, fileOf } = await site();
  const asked = [];
  const range = async (f, start, end) => {
    asked.push([f.key, start, end]);
    return whole(data).subarray(f.offset + start, f.offset + end + 1);
  };
  await store.writeFile(fileOf("A").entry.sha256, data.A);
  await boundaryPieces(ctx, fileOf("B"), data.B, range);
  // B covers pieces 0 (with A, stored) and 1 (with C, fetched: its bytes 0..1 in piece 1).
  assert.deepEqual(asked, [["C", 0, 1]]);
  assert.deepEqual(
    ctx.pieces.map((p) => [p.index, p.infohash]),
    [[0, IH], [1, IH]],
  );
  assert.deepEqual(ctx.pieces[0].bytes, whole(data).subarray(0, 16));
  assert.deepEqual(ctx.pieces[1].bytes, whole(data).subarray(16, 32));
  await store.writePiece(IH, 0, whole(data).subarray(0, 16));
  ctx.pieces.length = 0;
  await boundaryPieces(ctx, fileOf("B"), data.B, async () => null); // origin down: nothing
  assert.deepEqual(ctx.pieces, []);
});

test("a piece whose files the snapshot does not all list is left alone", async () => {
  assert.equal(fills([{ offset: 0, length: 10 }, { offset: 10, length: 20 }], 0, 16), true);
  assert.equal(fills([{ offset: 10, length: 20 }], 0, 16), false);
  assert.equal(fills([{ offset: 0, length: 5 }, { offset: 10, length: 20 }], 0, 16), false);
  assert.equal(fills([{ offset: 0, length: 10 }], 0, 16), false);
  const { data, store, ctx, fileOf, manifest } = await site();
  delete manifest.files.A; // a leaf that does not list A
  await storeFilePieces(ctx, fileOf("B"), data.B);
  await boundaryPieces(ctx, fileOf("B"), data.B, async () => new Uint8Array(2).fill(3));
  assert.equal((await store.pieceIndexes(IH)).has(0), false);
  assert.deepEqual(ctx.pieces.map((p) => p.index), [1]);
});

test("boundary pieces are not worth fetching more than a quarter of the file again", async () => {
  const { data, ctx, fileOf } = await site();
  let asked = 0;
  // C (5 bytes) shares piece 1 with B: 14 bytes of B to fetch, more than a quarter of C.
  await boundaryPieces(ctx, fileOf("C"), data.C, async () => {
    asked += 1;
    return null;
  });
  assert.equal(asked, 0);
  assert.deepEqual(ctx.pieces, []);
  fileOf("C").entry.type = "text/html; charset=utf-8"; // a page is worth it
  await boundaryPieces(ctx, fileOf("C"), data.C, async () => {
    asked += 1;
    return null;
  });
  assert.equal(asked, 1);
});
