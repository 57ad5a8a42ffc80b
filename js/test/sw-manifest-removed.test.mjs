// A site that removed Planktos by deleting planktos/ and planktos.sw.js: the worker reads
// 404/410 of both as the kill switch; a failing or unreachable origin keeps the last good
// manifest (js/sw/manifest.js). Cache Storage and fetch are stand-ins.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ManifestSource, REMOVED } from "../sw/manifest.js";
import { Snapshots } from "../sw/snapshots.js";

const SCOPE = "https://example.org/site/";
const MANIFEST = `${SCOPE}planktos/manifest.json`;
const SCRIPT = `${SCOPE}planktos.sw.js`;
const GOOD = {
  format: "planktos-manifest",
  version: 2,
  build: "b1",
  index: { shards: { s: { infohash: "a".repeat(40) } }, files: { "index.html": { shard: "s", sha256: "0".repeat(64) } } },
};

/** A source that has GOOD as its last good copy, then an origin answering `answers[url]`. */
async function sourceWith(answers) {
  const entries = new Map();
  globalThis.caches = {
    open: async () => ({
      match: async (url) => entries.get(url)?.clone(),
      put: async (url, response) => void entries.set(url, response),
      keys: async () => [],
      delete: async () => true,
    }),
  };
  const asked = [];
  let origin = async () => new Response(JSON.stringify(GOOD), { headers: { etag: '"1"' } });
  globalThis.fetch = async (url) => {
    asked.push(url);
    return origin(url);
  };
  const source = new ManifestSource(SCOPE, new Snapshots());
  assert.equal((await source.revalidate()).build, "b1");
  origin = async (url) => {
    const answer = answers[url];
    if (answer instanceof Error) throw answer;
    return new Response("nope", { status: answer ?? 200 });
  };
  asked.length = 0;
  return { source, asked };
}

for (const [manifest, script] of [[404, 404], [410, 410], [404, 410]]) {
  test(`manifest ${manifest} and worker script ${script}: Planktos was removed`, async () => {
    const { source, asked } = await sourceWith({ [MANIFEST]: manifest, [SCRIPT]: script });
    assert.equal(await source.revalidate(), REMOVED);
    assert.deepEqual(asked, [MANIFEST, SCRIPT]);
  });
}

const kept = [
  ["the origin down (network error)", { [MANIFEST]: new TypeError("Failed to fetch") }],
  ["the origin failing (503)", { [MANIFEST]: 503, [SCRIPT]: 503 }],
  ["the origin failing (500), script 404", { [MANIFEST]: 500, [SCRIPT]: 404 }],
  ["the manifest 404 but the worker still deployed", { [MANIFEST]: 404, [SCRIPT]: 200 }],
  ["the manifest 404, the script unreachable", { [MANIFEST]: 404, [SCRIPT]: new TypeError("Failed to fetch") }],
];
for (const [what, answers] of kept) {
  test(`${what}: the last good manifest stays`, async () => {
    const { source } = await sourceWith(answers);
    const m = await source.revalidate();
    assert.equal(m.build, "b1");
    assert.equal(m.uninstalled, undefined);
  });
}
