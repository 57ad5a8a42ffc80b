import assert from "node:assert/strict";
import { test } from "node:test";
import { cameOverNetwork, timingsOf } from "../sw/origin.js";

/** A Performance with the entries of `byUrl` ({url: [[transferSize, encodedBodySize]]}). */
function fakePerf(byUrl) {
  const entries = Object.entries(byUrl).flatMap(([name, list]) =>
    list.map(([transferSize, encodedBodySize]) => ({ name, transferSize, encodedBodySize })),
  );
  return {
    entries,
    cleared: 0,
    getEntriesByName(url) {
      return this.entries.filter((e) => e.name === url);
    },
    getEntriesByType() {
      return this.entries;
    },
    clearResourceTimings() {
      this.entries = [];
      this.cleared += 1;
    },
  };
}

test("a body over the network counts; a 304 answered from the HTTP cache does not; a fresh cached copy says nothing", async () => {
  const perf = fakePerf({ a: [[200_300, 200_000], [300, 200_000]], b: [[0, 5000]] });
  assert.equal(await cameOverNetwork("a", 0, { perf }), true);
  assert.equal(await cameOverNetwork("a", 1, { perf }), false);
  assert.equal(await cameOverNetwork("b", 0, { perf }), null); // from the cache, no request
});

test("the entry added after the read is waited for; none within the wait is no sample", async () => {
  const perf = fakePerf({ a: [] });
  const before = timingsOf("a", perf);
  setTimeout(() => perf.entries.push({ name: "a", transferSize: 2300, encodedBodySize: 2000 }), 20);
  assert.equal(await cameOverNetwork("a", before, { perf, waitMs: 1000 }), true);
  assert.equal(await cameOverNetwork("a", 1, { perf, waitMs: 60 }), false);
  assert.equal(await cameOverNetwork("a", 0, { perf: null }), false); // no Resource Timing
});

test("a full timing buffer is cleared before it drops new entries", () => {
  const perf = fakePerf({ x: Array.from({ length: 201 }, () => [1, 1]) });
  assert.equal(timingsOf("a", perf), 0);
  assert.equal(perf.cleared, 1);
});
