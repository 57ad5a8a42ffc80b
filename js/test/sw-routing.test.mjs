// Which requests the service worker answers (docs/runtime.md, "A controlled request").
import assert from "node:assert/strict";
import { test } from "node:test";
import { decodePath, isImmutableScript, isRuntimeScript, manifestKey, scopedPath } from "../sw/routing.js";

const manifest = {
  files: {
    "index.html": {},
    "dir/index.html": {},
    "a%20b.png": {},
    "media/%C3%A9%20x.txt": {},
    "100%25.txt": {},
    "q%3Fx.html": {},
  },
};
const ROOT = "http://127.0.0.1:8080/";
const SUB = "http://127.0.0.1:8080/docs/";

function route(url, { method = "GET", scope = ROOT } = {}) {
  const rel = scopedPath(method, url, scope);
  const key = rel === null ? null : manifestKey(rel);
  return key !== null && Object.hasOwn(manifest.files, key) ? key : null;
}

for (const [url, key, scope] of [
  ["http://127.0.0.1:8080/", "index.html"],
  ["http://127.0.0.1:8080/index.html", "index.html"],
  ["http://127.0.0.1:8080/dir/", "dir/index.html"],
  ["http://127.0.0.1:8080/dir/index.html", "dir/index.html"],
  ["http://127.0.0.1:8080/%64ir/", "dir/index.html"], // decoded forms compare
  ["http://127.0.0.1:8080/a%20b.png", "a%20b.png"],
  ["http://127.0.0.1:8080/a b.png", "a%20b.png"], // URL parsing encodes the space
  ["http://127.0.0.1:8080/media/%c3%a9%20x.txt", "media/%C3%A9%20x.txt"], // lower-case escapes
  ["http://127.0.0.1:8080/media/é x.txt", "media/%C3%A9%20x.txt"],
  ["http://127.0.0.1:8080/100%25.txt", "100%25.txt"],
  ["http://127.0.0.1:8080/q%3Fx.html", "q%3Fx.html"],
  ["http://127.0.0.1:8080/docs/", "index.html", SUB], // --base-url sub-path
  ["http://127.0.0.1:8080/docs/dir/", "dir/index.html", SUB],
  ["http://127.0.0.1:8080/docs/a%20b.png", "a%20b.png", SUB],
]) {
  test(`routes ${url}${scope ? ` under ${scope}` : ""} to ${key}`, () => {
    assert.equal(route(url, { scope }), key);
  });
}

for (const [why, url, opts] of [
  ["other origin", "http://localhost:8080/index.html"],
  ["other port", "http://127.0.0.1:8081/index.html"],
  ["other scheme", "https://127.0.0.1:8080/index.html"],
  ["POST", "http://127.0.0.1:8080/index.html", { method: "POST" }],
  ["HEAD", "http://127.0.0.1:8080/index.html", { method: "HEAD" }],
  ["not in the manifest", "http://127.0.0.1:8080/missing.html"],
  ["directory without slash", "http://127.0.0.1:8080/dir"],
  ["a directory without index.html", "http://127.0.0.1:8080/media/"],
  ["web seed request", "http://127.0.0.1:8080/a%20b.png?planktos-webseed=1"],
  ["any query", "http://127.0.0.1:8080/index.html?v=2"],
  ["empty query", "http://127.0.0.1:8080/index.html?"],
  ["the manifest", "http://127.0.0.1:8080/planktos/manifest.json"],
  ["a torrent", "http://127.0.0.1:8080/planktos/t/ab.torrent"],
  ["the service worker", "http://127.0.0.1:8080/planktos.sw.js"],
  ["the service worker, encoded", "http://127.0.0.1:8080/planktos%2esw.js"],
  ["an encoded slash", "http://127.0.0.1:8080/dir%2Findex.html"],
  ["a malformed escape", "http://127.0.0.1:8080/a%zz.png"],
  ["invalid UTF-8", "http://127.0.0.1:8080/a%ff.png"],
  ["outside the scope", "http://127.0.0.1:8080/index.html", { scope: SUB }],
  ["the scope's parent", "http://127.0.0.1:8080/docs", { scope: SUB }],
]) {
  test(`passes through: ${why}`, () => assert.equal(route(url, opts), null));
}

test("manifestKey spells a path the one way the build does (Python's quote, safe='/')", () => {
  assert.equal(manifestKey("%7e%61/b%2a(c)!'.txt"), "~a/b%2A%28c%29%21%27.txt");
  assert.equal(manifestKey("d/"), "d/index.html");
  assert.equal(manifestKey(""), "index.html");
  assert.equal(manifestKey("%F0%9F%90%9F"), "%F0%9F%90%9F");
  assert.equal(manifestKey("a%2Fb"), null);
});

test("decodePath keeps segments apart", () => {
  assert.equal(decodePath("a/%C3%A9/b%20c"), "a/é/b c");
  assert.equal(decodePath("a%2Fb"), null);
  assert.equal(decodePath("%"), null);
});

test("the runtime scripts are recognised exactly", () => {
  assert.ok(isRuntimeScript("GET", `${ROOT}planktos/install.js`, ROOT));
  assert.ok(isRuntimeScript("GET", `${ROOT}planktos/agent.js`, ROOT));
  assert.ok(isRuntimeScript("GET", `${SUB}planktos/agent.js`, SUB));
  assert.ok(!isRuntimeScript("GET", `${ROOT}planktos/agent.js`, SUB));
  assert.ok(!isRuntimeScript("GET", `${ROOT}planktos/agent.js?v=1`, ROOT));
  assert.ok(!isRuntimeScript("POST", `${ROOT}planktos/agent.js`, ROOT));
  assert.ok(!isRuntimeScript("GET", `${ROOT}planktos/manifest.json`, ROOT));
  assert.ok(!isRuntimeScript("GET", "http://other/planktos/agent.js", ROOT));
  const hashed = "planktos/agent.0123456789abcdef.js";
  assert.ok(isRuntimeScript("GET", `${ROOT}${hashed}`, ROOT));
  assert.ok(isRuntimeScript("GET", `${SUB}${hashed}`, SUB));
  assert.ok(!isRuntimeScript("GET", `${ROOT}planktos/agent.0123.js`, ROOT));
  assert.ok(!isRuntimeScript("GET", `${ROOT}planktos/agent.0123456789ABCDEF.js`, ROOT));
  assert.ok(!isRuntimeScript("GET", `${ROOT}${hashed}.gz`, ROOT));
});

test("only the hashed agent is immutable", () => {
  assert.ok(isImmutableScript(`${ROOT}planktos/agent.0123456789abcdef.js`));
  assert.ok(isImmutableScript(`${SUB}planktos/agent.0123456789abcdef.js`));
  assert.ok(!isImmutableScript(`${ROOT}planktos/agent.js`));
  assert.ok(!isImmutableScript(`${ROOT}planktos/install.js`));
});
