// Manifest entries as the service worker reads them (js/sw/file.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { agentRequest, fileInfo } from "../sw/file.js";

const SHA = "a".repeat(64);
const manifest = {
  runtime: { deadline_ms: 900 },
  shards: {
    g: { infohash: "1".repeat(40), torrent: "planktos/t/1.torrent", webseed: "planktos/w/1/", piece_length: 16384 },
    c: { infohash: "2".repeat(40), torrent: "planktos/t/2.torrent", webseed: "v%20x.mp4", piece_length: 65536 },
  },
  files: {
    "a%20b.css": { shard: "g", index: 3, offset: 100, length: 20, sha256: SHA },
    "v%20x.mp4": { shard: "c", index: 0, offset: 0, length: 65537, chunks_sha256: SHA, chunks: [SHA, SHA] },
    "chunks-no-id": { shard: "c", index: 0, offset: 0, length: 65537, sha256: SHA, chunks: [SHA, SHA] },
    "empty.txt": { index: 0, offset: 0, length: 0, sha256: SHA },
    "bad-chunks": { shard: "c", index: 0, offset: 0, length: 65537, chunks_sha256: SHA, chunks: [SHA] },
    "no-shard": { shard: "zzz", index: 0, offset: 0, length: 5, sha256: SHA },
    "bad-sha": { shard: "g", index: 0, offset: 0, length: 5, sha256: "xyz" },
  },
};
const SCOPE = "http://127.0.0.1:8080/docs/";

test("a small file: its URL under the scope, the manifest's deadline", () => {
  const f = fileInfo(manifest, "a%20b.css", SCOPE);
  assert.equal(f.url, "http://127.0.0.1:8080/docs/a%20b.css");
  assert.equal(f.large, false);
  assert.equal(f.deadline, 900);
});

test("a large file has chunks, one per piece", () => {
  assert.equal(fileInfo(manifest, "v%20x.mp4", SCOPE).large, true);
  assert.throws(() => fileInfo(manifest, "bad-chunks", SCOPE), TypeError);
  // Chunked entries are named by chunks_sha256 (they have no whole-file SHA-256).
  assert.throws(() => fileInfo(manifest, "chunks-no-id", SCOPE), TypeError);
});

test("an empty file needs no shard; others do", () => {
  assert.equal(fileInfo(manifest, "empty.txt", SCOPE).large, false);
  assert.throws(() => fileInfo(manifest, "no-shard", SCOPE), TypeError);
  assert.throws(() => fileInfo(manifest, "bad-sha", SCOPE), TypeError);
});

test("agent reads carry the manifest's torrent as it is, and no web seed (the agent reads from peers only)", () => {
  const f = fileInfo(manifest, "a%20b.css", SCOPE);
  assert.deepEqual(agentRequest(f, 0, 19), {
    infohash: "1".repeat(40),
    torrent: "planktos/t/1.torrent",
    index: 3,
    start: 0,
    end: 19,
  });
});

test("a file's URL in its shard's web seed tree, segments named as planktos build names them", async () => {
  const { seedTreeUrl } = await import("../sw/file.js");
  const file = (key, webseed) => ({ key, entry: { shard: "g-1" }, shard: { webseed } });
  assert.equal(seedTreeUrl(file("a/b.css", "planktos/w/1/"), SCOPE), new URL("planktos/w/1/g-1/a/b.css", SCOPE).href);
  assert.equal(
    seedTreeUrl(file("files/100%25%20caf%C3%A9%20%231.txt", "planktos/w/1/"), SCOPE),
    new URL("planktos/w/1/g-1/files/100~25~20caf~C3~A9~20~231.txt", SCOPE).href,
  );
  assert.equal(seedTreeUrl(file("x/it's~(1)!.txt", "planktos/w/1/"), SCOPE), new URL("planktos/w/1/g-1/x/it~27s~7E~281~29~21.txt", SCOPE).href);
  assert.equal(seedTreeUrl(file("video.mp4", "video.mp4"), SCOPE), null);
});
