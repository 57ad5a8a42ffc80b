import assert from "node:assert/strict";
import { test } from "node:test";
import { baseOf, manifestUrl, torrentRefOf, torrentUrl, trackerUrls } from "../agent/urls.js";

test("the base is the directory above planktos/", () => {
  assert.equal(baseOf("https://example.org/planktos/agent.js"), "https://example.org/");
  assert.equal(baseOf("https://example.org/docs/v2/planktos/agent.js"), "https://example.org/docs/v2/");
  assert.equal(manifestUrl("https://example.org/docs/"), "https://example.org/docs/planktos/manifest.json");
});

test("trackers: relative paths resolve against the base on ws(s)", () => {
  assert.deepEqual(trackerUrls(["planktos/tracker"], "http://127.0.0.1:8000/"), ["ws://127.0.0.1:8000/planktos/tracker"]);
  assert.deepEqual(trackerUrls(["planktos/tracker"], "https://example.org/docs/"), ["wss://example.org/docs/planktos/tracker"]);
  assert.deepEqual(trackerUrls(["/t"], "https://example.org/docs/"), ["wss://example.org/t"]);
});

test("trackers: ws URLs kept, others dropped, duplicates once", () => {
  const base = "https://example.org/";
  assert.deepEqual(
    trackerUrls(["wss://t.example.net/a", "wss://t.example.net/a", "ftp://x/", "planktos/tracker"], base),
    ["wss://t.example.net/a", "wss://example.org/planktos/tracker"],
  );
  assert.deepEqual(trackerUrls(undefined, base), []);
  assert.deepEqual(trackerUrls("planktos/tracker", base), []);
});


test("torrent URLs resolve against the base", () => {
  assert.equal(torrentUrl("planktos/t/ab.torrent", "http://h:1/x/"), "http://h:1/x/planktos/t/ab.torrent");
});

test("a shard's torrent is named by its infohash where the build puts it", () => {
  const ih = "62c8612ccbe916e41d4026c7875ad61cee1e9da6";
  assert.equal(torrentRefOf(ih), `planktos/t/${ih}.torrent`);
  assert.equal(torrentUrl(torrentRefOf(ih), "https://example.org/docs/"), `https://example.org/docs/planktos/t/${ih}.torrent`);
});
