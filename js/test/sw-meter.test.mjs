import assert from "node:assert/strict";
import { test } from "node:test";
import { COOLDOWN_MS, Meters, MIN_GAIN_MS, SourceMeter, UNPROVEN_WAIT_MS, waitForPeersMs } from "../sw/meter.js";

test("a source's estimate: first-byte time plus the body at the measured throughput", () => {
  const m = new SourceMeter();
  assert.equal(m.estimate(1000), null);
  m.record(100_000, 50, 150); // 1,000 bytes/ms after 50 ms
  assert.equal(m.estimate(200_000), 50 + 200);
  m.record(1000, 10, 12); // a small body: first-byte time only
  assert.equal(m.bytesPerMs, 1000);
  assert.ok(m.firstMs < 50 && m.firstMs > 10);
});

test("no wait for peers before the origin was measured, while peers cool down, or when little is to gain", () => {
  const base = { originMs: 2000, peerMs: 100, proven: true, coolingDown: false, deadlineMs: 2500 };
  assert.equal(waitForPeersMs({ ...base, originMs: null }), 0);
  assert.equal(waitForPeersMs({ ...base, coolingDown: true }), 0);
  assert.equal(waitForPeersMs({ ...base, originMs: 100 + MIN_GAIN_MS - 1 }), 0);
});

test("the wait is half the expected gain, at most the deadline, and at most UNPROVEN_WAIT_MS until peers delivered", () => {
  const base = { originMs: 2000, peerMs: 100, proven: true, coolingDown: false, deadlineMs: 2500 };
  assert.equal(waitForPeersMs(base), 950);
  assert.equal(waitForPeersMs({ ...base, deadlineMs: 500 }), 500);
  assert.equal(waitForPeersMs({ ...base, proven: false }), UNPROVEN_WAIT_MS);
  assert.equal(waitForPeersMs({ ...base, peerMs: null }), 1000);
});

test("meters: a quiet origin means no wait; a slow one means waiting for peers; a peer failure cools down", () => {
  let t = 0;
  const m = new Meters({ now: () => t });
  m.origin.record(100_000, 2, 12); // loopback-fast
  assert.equal(m.peerWaitMs(300_000, 2500), 0);
  const slow = new Meters({ now: () => t });
  slow.origin.record(500_000, 400, 2400); // 250 bytes/ms after 400 ms
  assert.equal(slow.peerWaitMs(300_000, 2500), UNPROVEN_WAIT_MS);
  slow.peers.record(300_000, 20, 120);
  assert.ok(slow.peerWaitMs(300_000, 2500) > UNPROVEN_WAIT_MS);
  slow.peerFailed();
  assert.equal(slow.peerWaitMs(300_000, 2500), 0);
  t += COOLDOWN_MS;
  assert.ok(slow.peerWaitMs(300_000, 2500) > 0);
});

test("the first-byte bound for peers: a few times their usual first-byte time, within [UNPROVEN_WAIT_MS, deadline]", () => {
  const m = new Meters();
  assert.equal(m.peerFirstByteMs(2500), UNPROVEN_WAIT_MS);
  assert.equal(m.peerFirstByteMs(100), 100);
  m.peers.record(1000, 200, 210);
  assert.equal(m.peerFirstByteMs(2500), 800);
});

test("a late peer read gets the origin asked too: 300 ms past the wait and the peers' expected time", () => {
  const m = new Meters();
  assert.equal(m.hedgeMs(100_000, 2500), UNPROVEN_WAIT_MS); // nothing measured: no wait, no estimate
  m.peers.record(100_000, 50, 150); // 1,000 bytes/ms after 50 ms
  assert.equal(m.hedgeMs(100_000, 2500), UNPROVEN_WAIT_MS + 150);
  m.origin.record(100_000, 1000, 2000); // the origin far slower: a wait for peers first
  const wait = m.peerWaitMs(100_000, 2500);
  assert.ok(wait > 0);
  assert.equal(m.hedgeMs(100_000, 2500), wait + UNPROVEN_WAIT_MS + 150);
});
