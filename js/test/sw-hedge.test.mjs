import assert from "node:assert/strict";
import { test } from "node:test";
import { hedge } from "../sw/hedge.js";

const after = (ms, value, fail = false) =>
  new Promise((resolve, reject) => setTimeout(() => (fail ? reject(new Error(value)) : resolve(value)), ms));

/** A second source answering `value` after `ms` (or failing), that records whether it was asked and cancelled. */
function second(ms, value, fail = false) {
  const s = { asked: false, cancelled: false };
  s.start = () => {
    s.asked = true;
    return { promise: after(ms, value, fail), cancel: () => (s.cancelled = true) };
  };
  return s;
}

test("a primary on time: the second source is never asked", async () => {
  const s = second(10, "origin");
  assert.deepEqual(await hedge(after(5, "peer"), 100, s.start), { primary: "peer" });
  assert.equal(s.asked, false);
  assert.deepEqual(await hedge(after(5, null), 100, s.start), { secondary: null }); // nothing: take it now
  assert.equal(s.asked, false);
});

test("a late primary: the second source is asked, and the first answer wins", async () => {
  let cancelled = false;
  const slow = second(10, "origin");
  const got = await hedge(after(500, "peer"), 20, slow.start, () => (cancelled = true));
  assert.equal(slow.asked, true);
  assert.equal(await got.secondary, "origin");
  assert.equal(cancelled, true);

  const fastPeer = second(500, "origin");
  assert.deepEqual(await hedge(after(40, "peer"), 20, fastPeer.start), { primary: "peer" });
  assert.equal(fastPeer.cancelled, true);
});

test("a second source that fails leaves the primary to finish; both failing ends in the second's error", async () => {
  const failing = second(5, "down", true);
  assert.deepEqual(await hedge(after(60, "peer"), 20, failing.start), { primary: "peer" });
  const got = await hedge(after(60, null), 20, second(5, "down", true).start);
  await assert.rejects(got.secondary, /down/);
});

test("a promise as the trigger: the second source is asked when it resolves true, never when false", async () => {
  const waited = second(5, "peer");
  const got = await hedge(after(300, "origin"), after(20, true), waited.start);
  assert.equal(waited.asked, true);
  assert.equal(await got.secondary, "peer");

  const never = second(5, "peer");
  assert.deepEqual(await hedge(after(60, "origin"), after(20, false), never.start), { primary: "origin" });
  assert.equal(never.asked, false);
});
