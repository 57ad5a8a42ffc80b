import assert from "node:assert/strict";
import { test } from "node:test";
import { FRESH_MS, RETRY_MAX_MS, RETRY_MIN_MS, TrackerGate, nextDelay, probeUrl } from "../agent/trackers.js";

test("a tracker is probed on its http(s) URL", () => {
  assert.equal(probeUrl("ws://127.0.0.1:8000/planktos/tracker"), "http://127.0.0.1:8000/planktos/tracker");
  assert.equal(probeUrl("wss://t.example.net/a"), "https://t.example.net/a");
});

test("retries back off, doubling up to the maximum", () => {
  assert.equal(nextDelay(0), RETRY_MIN_MS);
  assert.equal(nextDelay(RETRY_MIN_MS), 2 * RETRY_MIN_MS);
  assert.equal(nextDelay(RETRY_MAX_MS), RETRY_MAX_MS);
});

test("only reachable trackers are used; one that comes back is announced", async () => {
  const up = new Set(["http://a/"]);
  const pending = [];
  const changes = [];
  const gate = new TrackerGate(["ws://a/", "ws://b/"], {
    probe: async (url) => up.has(url),
    onChange: (usable) => changes.push(usable),
    schedule: (fn, ms) => pending.push([fn, ms]),
  });
  assert.deepEqual(await gate.usable(), ["ws://a/"]);
  assert.deepEqual(pending.map(([, ms]) => ms), [RETRY_MIN_MS]);
  pending.shift()[0](); // still down: the next retry waits twice as long
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(pending.map(([, ms]) => ms), [2 * RETRY_MIN_MS]);
  assert.deepEqual(changes, []);
  up.add("http://b/");
  pending.shift()[0]();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(changes, [["ws://a/", "ws://b/"]]);
  assert.deepEqual(await gate.usable(), ["ws://a/", "ws://b/"]);
  assert.equal(pending.length, 0);
});

test("no answer from the service worker (an older one): the tracker is used", async () => {
  const gate = new TrackerGate(["ws://a/"], { probe: async () => null, schedule: () => assert.fail() });
  assert.deepEqual(await gate.usable(), ["ws://a/"]);
});

test("probes older than FRESH_MS are made again before a new torrent connects: a tracker that died is left out", async () => {
  let t = 0;
  const up = new Set(["http://a/"]);
  const pending = [];
  const gate = new TrackerGate(["ws://a/"], {
    probe: async (url) => up.has(url),
    schedule: (fn, ms) => pending.push([fn, ms]),
    now: () => t,
  });
  assert.deepEqual(await gate.usable(), ["ws://a/"]);
  up.delete("http://a/");
  t += FRESH_MS; // not older than FRESH_MS yet: no probe
  assert.deepEqual(await gate.usable(), ["ws://a/"]);
  t += 1;
  assert.deepEqual(await gate.usable(), []);
  assert.deepEqual(pending.map(([, ms]) => ms), [RETRY_MIN_MS]);
});
