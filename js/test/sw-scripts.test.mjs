// The runtime scripts in the service worker (js/sw/scripts.js): the hashed agent's kept copy
// is answered whatever build kept it and never revalidated; install.js's only when this build
// kept it; keeping an agent drops the copies of other agents.
import assert from "node:assert/strict";
import { test } from "node:test";
import { keepScript, runtimeScript } from "../sw/scripts.js";

const ROOT = "https://example.org/";
const AGENT = `${ROOT}planktos/agent.0123456789abcdef.js`;
const OLD_AGENT = `${ROOT}planktos/agent.fedcba9876543210.js`;
const PLAIN_AGENT = `${ROOT}planktos/agent.js`;
const INSTALL = `${ROOT}planktos/install.js`;

/** A Cache Storage with one cache, and a fetch that records its calls. */
function fakes() {
  const entries = new Map();
  const cache = {
    match: async (url) => entries.get(typeof url === "string" ? url : url.url)?.clone(),
    put: async (url, response) => void entries.set(url, response),
    keys: async () => [...entries.keys()].map((url) => ({ url })),
    delete: async (key) => entries.delete(key.url),
  };
  globalThis.caches = { open: async () => cache, has: async () => true };
  const fetched = [];
  globalThis.fetch = async (input) => {
    const url = typeof input === "string" ? input : input.url;
    fetched.push(url);
    return new Response(`network ${url}`, { headers: { etag: '"new"', "content-encoding": "br" } });
  };
  return { entries, fetched };
}

const kept = (body, build) => new Response(body, { headers: { "x-planktos-build": build, etag: '"old"' } });

test("a kept hashed agent answers whatever build kept it, with no request", async () => {
  const { entries, fetched } = fakes();
  entries.set(AGENT, kept("agent copy", "older-build"));
  const background = [];
  const response = await runtimeScript({ url: AGENT }, (p) => background.push(p), "this-build");
  assert.equal(await response.text(), "agent copy");
  assert.deepEqual(fetched, []);
  assert.equal(background.length, 0);
});

test("install.js kept by another build goes to the network, and is kept again", async () => {
  const { entries, fetched } = fakes();
  entries.set(INSTALL, kept("old install", "older-build"));
  const background = [];
  const response = await runtimeScript({ url: INSTALL }, (p) => background.push(p), "this-build");
  assert.equal(await response.text(), `network ${INSTALL}`);
  assert.deepEqual(fetched, [INSTALL]);
  await Promise.all(background);
  const copy = entries.get(INSTALL);
  assert.equal(copy.headers.get("x-planktos-build"), "this-build");
  assert.equal(copy.headers.get("content-encoding"), null); // the body kept is decoded
});

test("install.js kept by this build answers and is revalidated in the background", async () => {
  const { entries, fetched } = fakes();
  entries.set(INSTALL, kept("install copy", "this-build"));
  const background = [];
  const response = await runtimeScript({ url: INSTALL }, (p) => background.push(p), "this-build");
  assert.equal(await response.text(), "install copy");
  await Promise.all(background);
  assert.deepEqual(fetched, [INSTALL]);
});

test("keeping an agent drops the copies of other agents, not install.js", async () => {
  const { entries } = fakes();
  for (const url of [OLD_AGENT, PLAIN_AGENT, INSTALL]) entries.set(url, kept("x", "b"));
  await keepScript(AGENT, new Response("agent", { headers: { etag: '"a"' } }), "b");
  assert.deepEqual([...entries.keys()].sort(), [AGENT, INSTALL].sort());
});
