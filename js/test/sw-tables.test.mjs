// Manifest version 2 tables: lookups, fetched on need, checked, kept (js/sw/tables.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { childFor, leafView, Tables, walkNow } from "../sw/tables.js";
import { sha256Hex } from "../sw/verify.js";

const SCOPE = "http://127.0.0.1:8080/docs/";
const enc = (node) => new TextEncoder().encode(JSON.stringify(node));

// A site of two leaves under one inner table: [a.html, b.html] and [m/x.css].
async function site() {
  const leafA = { files: { "a.html": { shard: "g", sha256: "1".repeat(64) }, "b.html": {} }, shards: { g: {} } };
  const leafM = { files: { "m/x.css": {} }, shards: {} };
  const bodies = new Map();
  const put = async (node) => {
    const bytes = enc(node);
    const sha = await sha256Hex(bytes);
    bodies.set(sha, bytes);
    return sha;
  };
  const a = await put(leafA);
  const m = await put(leafM);
  const inner = await put({ tables: [["a.html", a], ["m/x.css", m]] });
  const manifest = { build: "b1", runtime: { deadline_ms: 700 }, tables: "planktos/i/", index: { tables: [["a.html", inner]] } };
  const requests = [];
  const fetchImpl = async (url) => {
    requests.push(url);
    const sha = url.match(/([0-9a-f]{64})\.json$/)?.[1];
    const body = bodies.get(sha);
    return body ? new Response(body) : new Response("", { status: 404 });
  };
  const kept = new Map();
  const cache = {
    match: async (url) => (kept.has(url) ? new Response(kept.get(url)) : undefined),
    put: async (url, response) => kept.set(url, new Uint8Array(await response.arrayBuffer())),
  };
  return { manifest, bodies, inner, a, m, requests, fetchImpl, kept, cache };
}

test("childFor picks the last child whose first key is not greater", () => {
  const inner = { tables: [["b", "1"], ["d", "2"], ["f", "3"]] };
  assert.equal(childFor(inner, "a"), null);
  assert.equal(childFor(inner, "b"), "1");
  assert.equal(childFor(inner, "c"), "1");
  assert.equal(childFor(inner, "d"), "2");
  assert.equal(childFor(inner, "zzz"), "3");
});

test("walkNow answers from the top level alone when its root is a leaf", () => {
  const m = { index: { files: { "a.html": {} }, shards: {} } };
  assert.deepEqual(walkNow(m, "a.html", () => undefined), { leaf: m.index, tables: [] });
  assert.equal(walkNow({ index: { tables: [["b", "x"]] } }, "a", () => undefined), null);
});

test("a lookup fetches the tables on its way once, checks them and keeps them", async () => {
  const s = await site();
  const tables = new Tables(SCOPE, { open: async () => s.cache, fetchImpl: s.fetchImpl });
  assert.deepEqual(walkNow(s.manifest, "m/x.css", (sha) => tables.nodeNow(sha)), { missing: s.inner, tables: [s.inner] });
  const step = await tables.walk(s.manifest, "m/x.css");
  assert.deepEqual(step.tables, [s.inner, s.m]);
  assert.ok("m/x.css" in step.leaf.files);
  assert.deepEqual(s.requests, [`${SCOPE}planktos/i/${s.inner}.json`, `${SCOPE}planktos/i/${s.m}.json`]);
  assert.equal(s.kept.size, 2);
  await tables.walk(s.manifest, "b.html");
  assert.equal(s.requests.length, 3); // the inner table came from memory
  // A new worker (empty memory) reads Cache Storage, not the network.
  const again = new Tables(SCOPE, { open: async () => s.cache, fetchImpl: s.fetchImpl });
  await again.walk(s.manifest, "a.html");
  assert.equal(s.requests.length, 3);
});

test("a table that does not match its SHA-256 is refused; a damaged kept copy is fetched again", async () => {
  const s = await site();
  s.bodies.set(s.inner, enc({ tables: [["a.html", "f".repeat(64)]] })); // not what the hash says
  const tables = new Tables(SCOPE, { open: async () => s.cache, fetchImpl: s.fetchImpl });
  await assert.rejects(tables.walk(s.manifest, "a.html"), /SHA-256/);
  assert.equal(s.kept.size, 0);

  const t = await site();
  t.kept.set(`${SCOPE}planktos/i/${t.inner}.json`, enc({ tables: [] }));
  const fresh = new Tables(SCOPE, { open: async () => t.cache, fetchImpl: t.fetchImpl });
  const step = await fresh.walk(t.manifest, "a.html");
  assert.ok("a.html" in step.leaf.files);
  assert.equal(t.requests.length, 2);
});

test("without Cache Storage tables live in memory; a missing table rejects", async () => {
  const s = await site();
  const tables = new Tables(SCOPE, { fetchImpl: s.fetchImpl });
  assert.ok((await tables.walk(s.manifest, "b.html")).leaf.files["b.html"]);
  s.bodies.delete(s.m);
  await assert.rejects(tables.walk(s.manifest, "m/x.css"), /HTTP 404/);
});

test("leafView gives fileInfo a snapshot's runtime with a leaf's files, the same object each time", async () => {
  const s = await site();
  const leaf = { files: { x: {} }, shards: { g: {} } };
  const v = leafView(s.manifest, leaf);
  assert.equal(leafView(s.manifest, leaf), v);
  assert.deepEqual(v, { build: "b1", runtime: { deadline_ms: 700 }, files: leaf.files, shards: leaf.shards });
});
