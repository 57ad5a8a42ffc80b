import assert from "node:assert/strict";
import { test } from "node:test";
import { agentTotals, delta, hasNews, randomId, reportBody, reportOf, swTotals } from "../agent/stats-report.js";
import { Reporter } from "../agent/stats-reporter.js";

const sw = (store, origin, rejected = 0, peer = 0) => ({
  type: "stats",
  bytes: { store, peer, origin },
  rejected: { count: rejected, bytes: 0, store: 0, peer: 0, origin: 0 },
});
const agent = () => ({ bytesFromPeers: 0, bytesUploaded: 0, piecesRejected: 0, peersConnected: 0 });

test("totals take only the counters a report needs, and nothing that is not a count", () => {
  assert.deepEqual(swTotals(sw(5, 7, 2, 999.5)), { store: 5, peers: 999, origin: 7, rejected: 2 });
  assert.deepEqual(swTotals(null), { store: 0, peers: 0, origin: 0, rejected: 0 });
  // The agent's own byte counts are raw (before verification): never reported as peer bytes.
  const a = { ...agent(), bytesFromPeers: 10, bytesUploaded: 6.5, piecesRejected: "4" };
  assert.deepEqual(agentTotals(a), { uploaded: 6, rejected: 0 });
});

test("deltas subtract the baseline; a counter below it restarted and counts whole", () => {
  assert.deepEqual(delta({ a: 10, b: 3 }, { a: 4, b: 5 }), { a: 6, b: 3 });
  assert.deepEqual(delta({ a: 10 }, undefined), { a: 10 });
});

test("a report takes bytes by source from the SW (verified), uploads from the agent, rejections from both", () => {
  const r = reportOf({ store: 1, peers: 4, origin: 2, rejected: 3 }, { uploaded: 6, rejected: 7 }, 3000);
  assert.deepEqual(r, { store: 1, peers: 4, origin: 2, uploaded: 6, rejected: 10, peers_connected: 1000 });
  assert.equal(hasNews(r), true);
  assert.equal(hasNews({ ...reportOf(swTotals({}), agentTotals({}), 5) }), false);
  const body = JSON.parse(reportBody("x".repeat(22), r));
  assert.deepEqual(Object.keys(body), ["v", "id", "store", "peers", "origin", "uploaded", "rejected", "peers_connected"]);
});

test("random ids are 22 URL-safe characters and differ", () => {
  const a = randomId();
  assert.match(a, /^[A-Za-z0-9_-]{22}$/);
  assert.notEqual(a, randomId());
  assert.equal(randomId((arr) => arr.fill(255)), "_____________________w");
});

function harness({ swAnswers = [], accept = true } = {}) {
  const sent = [];
  let stored = null;
  const counters = agent();
  const reporter = new Reporter({
    counters,
    askSw: async () => swAnswers.shift() ?? null,
    send: (body) => {
      if (accept) sent.push(JSON.parse(body));
      return accept;
    },
    storage: { get: () => stored, set: (s) => (stored = structuredClone(s)) },
  });
  return { reporter, counters, sent, storage: () => stored };
}

test("nothing is sent when nothing is new; the id is kept from the first report on", async () => {
  const h = harness({ swAnswers: [sw(0, 0)] });
  assert.equal(await h.reporter.tick(), false);
  assert.equal(h.sent.length, 0);
  const id = h.storage().id;
  assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  h.counters.bytesUploaded = 100;
  assert.equal(h.reporter.flush(), true);
  assert.equal(h.sent[0].id, id);
});

test("each report carries what is new since the previous one", async () => {
  const h = harness({ swAnswers: [sw(10, 20, 1, 300), sw(15, 27, 1, 300), sw(15, 27, 1, 300)] });
  h.counters.bytesUploaded = 50;
  h.counters.peersConnected = 2;
  await h.reporter.tick();
  assert.deepEqual(h.sent.at(-1), { v: 1, id: h.sent[0].id, store: 10, peers: 300, origin: 20, uploaded: 50, rejected: 1, peers_connected: 2 });
  await h.reporter.tick();
  assert.deepEqual(h.sent.at(-1), { ...h.sent[0], store: 5, peers: 0, origin: 7, uploaded: 0, rejected: 0 });
  assert.equal(await h.reporter.tick(), false, "the third tick has nothing new");
  assert.equal(h.sent.length, 2);
});

test("a refused beacon keeps its counts for the next report", async () => {
  const h = harness({ swAnswers: [sw(10, 0, 0, 5)], accept: false });
  assert.equal(await h.reporter.tick(), false);
  assert.equal(h.storage()?.sw, undefined);
  const again = new Reporter({ ...h.reporter, send: (b) => h.sent.push(JSON.parse(b)) > 0 });
  again.swLatest = h.reporter.swLatest;
  again.flush();
  assert.equal(h.sent[0].store, 10);
  assert.equal(h.sent[0].peers, 5);
});

test("the next leader tab goes on from the SW counts the previous one reported", async () => {
  const first = harness({ swAnswers: [sw(100, 40, 0, 10)] });
  await first.reporter.tick();
  // A new page: fresh agent counters, same profile storage, the SW counted on meanwhile.
  const sent = [];
  let stored = first.storage();
  const next = new Reporter({
    counters: agent(),
    askSw: async () => sw(130, 45, 0, 10),
    send: (b) => sent.push(JSON.parse(b)) > 0,
    storage: { get: () => stored, set: (s) => (stored = s) },
  });
  await next.tick();
  assert.deepEqual([sent[0].store, sent[0].origin, sent[0].peers], [30, 5, 0]);
  assert.equal(sent[0].id, first.sent[0].id);
});

test("page hide reports synchronously with the SW counts last known", async () => {
  const h = harness({ swAnswers: [sw(10, 0, 0, 1)] });
  await h.reporter.refresh();
  h.counters.bytesUploaded = 1;
  assert.equal(h.reporter.flush(), true);
  assert.deepEqual([h.sent[0].store, h.sent[0].peers, h.sent[0].uploaded], [10, 1, 1]);
});

test("a SW whose counters restarted (storage cleared) reports them whole", async () => {
  const h = harness({ swAnswers: [sw(100, 0), sw(30, 0)] });
  await h.reporter.tick();
  await h.reporter.tick();
  assert.deepEqual(h.sent.map((r) => r.store), [100, 30]);
});

test("the worker routes the stats API and the dashboard to the network, install.js to its copy, where it can", async () => {
  const { networkRoutes, addNetworkRoutes } = await import("../sw/routes.js");
  assert.deepEqual(networkRoutes("https://example.com/docs/", "kept"), [
    { condition: { urlPattern: "https://example.com/docs/planktos/stats" }, source: "network" },
    { condition: { urlPattern: "https://example.com/docs/planktos/dashboard" }, source: "network" },
    { condition: { urlPattern: "https://example.com/docs/planktos/install.js" }, source: { cacheName: "kept" } },
  ]);
  const waited = [];
  const added = [];
  addNetworkRoutes({ addRoutes: async (r) => added.push(r), waitUntil: (p) => waited.push(p) }, "https://a.test/", "kept");
  await Promise.all(waited);
  assert.equal(added[0].length, 3);
  addNetworkRoutes({ waitUntil: () => assert.fail("no addRoutes: nothing to wait for") }, "https://a.test/");
  const failing = { addRoutes: () => Promise.reject(new TypeError("bad rule")), waitUntil: (p) => waited.push(p) };
  addNetworkRoutes(failing, "https://a.test/");
  await Promise.all(waited); // a refused rule is swallowed
});

test("the SW's counters it sends unasked are what pagehide reports", () => {
  const h = harness();
  h.reporter.take(sw(10, 5, 0, 40));
  assert.equal(h.reporter.flush(), true);
  assert.deepEqual([h.sent[0].store, h.sent[0].origin, h.sent[0].peers], [10, 5, 40]);
});

test("the agent's counters show the SW bytes a pagehide report would go from", async () => {
  const h = harness({ swAnswers: [sw(1, 2, 0, 3)] });
  assert.equal(h.counters.swBytesKnown ?? 0, 0);
  await h.reporter.refresh();
  assert.equal(h.counters.swBytesKnown, 6);
  h.reporter.take(sw(10, 5, 0, 40));
  assert.equal(h.counters.swBytesKnown, 55);
});
