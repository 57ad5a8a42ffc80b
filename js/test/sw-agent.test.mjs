// The SW side of the agent protocol, against a fake agent on a real MessageChannel.
import assert from "node:assert/strict";
import { test } from "node:test";
import { AgentLink, AgentUnavailable } from "../sw/agent.js";

/** An agent on the other end of a channel; `answer(msg, port)` decides what it says. */
function fakeAgent(answer) {
  const { port1, port2 } = new MessageChannel();
  const seen = [];
  // A failed assertion must not leave open ports keeping the test process alive.
  port1.unref?.();
  port2.unref?.();
  port2.onmessage = (e) => {
    seen.push(e.data);
    answer(e.data, port2);
  };
  return { port: port1, seen, close: () => (port1.close(), port2.close()) };
}

const bytesStream = (n) =>
  new ReadableStream({
    start(c) {
      c.enqueue(new Uint8Array(n).fill(1));
      c.close();
    },
  });

const READ = { infohash: "1".repeat(40), torrent: "t", index: 2, start: 0, end: 9 };

test("a read gets the agent's stream; the message carries the request and an id", async () => {
  const agent = fakeAgent((m, port) => {
    if (m.type !== "read") return;
    const stream = bytesStream(10);
    port.postMessage({ type: "stream", id: m.id, stream }, [stream]);
  });
  try {
    const link = new AgentLink();
    link.register(agent.port);
    const stream = await link.read(READ, 1000);
    const { value } = await stream.getReader().read();
    assert.equal(value.byteLength, 10);
    assert.deepEqual(agent.seen[0], { type: "read", ...READ, id: agent.seen[0].id });
  } finally {
    agent.close();
  }
});

test("an error answer rejects with the reason", async () => {
  const agent = fakeAgent((m, port) => port.postMessage({ type: "error", id: m.id, reason: "no peers" }));
  const link = new AgentLink();
  link.register(agent.port);
  await assert.rejects(link.read(READ, 1000), (err) => err instanceof AgentUnavailable && /no peers/.test(err.message));
  agent.close();
});

test("no answer within the deadline rejects", async () => {
  const agent = fakeAgent(() => {});
  const link = new AgentLink();
  link.register(agent.port);
  const t = Date.now();
  await assert.rejects(link.read(READ, 100), AgentUnavailable);
  assert.ok(Date.now() - t < 1000);
  agent.close();
});

test("a silent port is pinged, and dropped when no pong comes within pingMs", async () => {
  let t = 0;
  const agent = fakeAgent(() => {});
  const link = new AgentLink({ pingMs: 50, freshMs: 10, now: () => t });
  link.register(agent.port);
  t = 100;
  assert.equal(await link.live(), null);
  assert.equal(link.port, null);
  assert.equal(agent.seen[0].type, "ping");
  agent.close();
});

test("a port that pongs stays", async () => {
  let t = 0;
  const agent = fakeAgent((m, port) => m.type === "ping" && port.postMessage({ type: "pong", id: m.id }));
  const link = new AgentLink({ pingMs: 200, freshMs: 10, now: () => t });
  link.register(agent.port);
  t = 100;
  assert.equal(await link.live(), agent.port);
  agent.close();
});

test("the latest port wins, and a port whose page is gone is dropped without a ping", async () => {
  const gone = new Set();
  const a = fakeAgent(() => {});
  const b = fakeAgent(() => {});
  const link = new AgentLink({ clientExists: async (id) => !gone.has(id) });
  link.register(a.port, "tab-a");
  link.register(b.port, "tab-b");
  assert.equal(await link.live(), b.port);
  gone.add("tab-b");
  assert.equal(await link.live(), null);
  assert.equal(b.seen.length, 0);
  a.close();
  b.close();
});

test("no agent: reads reject at once", async () => {
  await assert.rejects(new AgentLink().read(READ, 1000), AgentUnavailable);
});

const streamingAgent = () =>
  fakeAgent((m, port) => {
    if (m.type !== "read") return;
    const stream = bytesStream(10);
    port.postMessage({ type: "stream", id: m.id, stream }, [stream]);
  });

const HASH = "1".repeat(40);
const bits = (...pieces) => {
  const out = new Uint8Array(2);
  for (const i of pieces) out[i >> 3] |= 0x80 >> (i & 7);
  return out;
};
/** Until `seen` (a fake agent's messages) holds `n` messages: ports deliver asynchronously. */
async function heard(seen, n = 1) {
  for (let i = 0; i < 200 && seen.length < n; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return seen;
}

test("holds: only pieces the current agent's peers reported, all of them", async () => {
  const agent = fakeAgent(() => {});
  const link = new AgentLink();
  assert.equal(link.holds(HASH, 0, 0), false);
  link.register(agent.port);
  const other = new MessageChannel();
  other.port1.unref?.();
  other.port2.unref?.();
  link.receive(other.port1, { type: "peers", infohash: HASH, have: bits(0, 1, 2) }); // not the current port
  assert.equal(link.holds(HASH, 0, 0), false);
  link.receive(agent.port, { type: "peers", infohash: HASH, have: bits(0, 1, 2, 9) });
  assert.equal(link.holds(HASH, 0, 2), true);
  assert.equal(link.holds(HASH, 2, 3), false);
  assert.equal(link.holds(HASH, 9, 9), true);
  assert.equal(link.holds("2".repeat(40), 0, 0), false);
  // What a window from peers can take when they hold only its start (large.js).
  assert.equal(link.heldThrough(HASH, 0, 9), 2);
  assert.equal(link.heldThrough(HASH, 1, 2), 2);
  assert.equal(link.heldThrough(HASH, 3, 9), 2);
  assert.equal(link.heldThrough("2".repeat(40), 4, 9), 3);
  link.receive(agent.port, { type: "peers", infohash: HASH, have: "nonsense" });
  assert.equal(link.holds(HASH, 0, 2), true);
  link.drop(agent.port);
  assert.equal(link.holds(HASH, 0, 0), false);
  other.port1.close();
  other.port2.close();
  agent.close();
});

test("whenHolds: true as soon as a report covers the pieces, false after the wait", async () => {
  const agent = fakeAgent(() => {});
  const link = new AgentLink();
  link.register(agent.port);
  const t = Date.now();
  assert.equal(await link.whenHolds(HASH, 0, 1, 30), false);
  assert.ok(Date.now() - t >= 25);
  assert.equal(await link.whenHolds(HASH, 0, 1, 0), false);
  const waiting = link.whenHolds(HASH, 0, 1, 5000);
  link.receive(agent.port, { type: "peers", infohash: HASH, have: bits(0) });
  link.receive(agent.port, { type: "peers", infohash: HASH, have: bits(0, 1) });
  assert.equal(await waiting, true);
  assert.equal(link.watchers.size, 0);
  agent.close();
});

test("whenHolds until settled (a prefetch): false as soon as the agent met the swarm and nobody holds the pieces", async () => {
  const agent = fakeAgent(() => {});
  const link = new AgentLink();
  link.register(agent.port);
  const waiting = link.whenHolds(HASH, 0, 1, 5000, true);
  const plain = link.whenHolds(HASH, 0, 1, 60);
  link.receive(agent.port, { type: "peers", infohash: HASH, have: bits(0), settled: false });
  link.receive(agent.port, { type: "peers", infohash: HASH, have: bits(0), settled: true });
  const t = Date.now();
  assert.equal(await waiting, false);
  assert.ok(Date.now() - t < 50);
  assert.equal(await plain, false); // waits its time: a read for the page itself
  // Settled and held: true; settled and not held: false at once.
  link.receive(agent.port, { type: "peers", infohash: HASH, have: bits(0, 1), settled: true });
  assert.equal(await link.whenHolds(HASH, 0, 1, 5000, true), true);
  assert.equal(await link.whenHolds(HASH, 2, 2, 5000, true), false);
  // A new peer unsettles it: waited for again.
  link.receive(agent.port, { type: "peers", infohash: HASH, have: bits(0, 1), settled: false });
  const again = link.whenHolds(HASH, 2, 2, 5000, true);
  link.receive(agent.port, { type: "peers", infohash: HASH, have: bits(0, 1, 2), settled: false });
  assert.equal(await again, true);
  assert.equal(link.watchers.size, 0);
  agent.close();
});

test("join: told to the agent at once; with none, the pages that offered are asked to start one, which is told on arrival", async () => {
  const link = new AgentLink();
  const page = fakeAgent(() => {});
  link.offer(page.port);
  link.join({ ...READ, infohash: HASH });
  assert.deepEqual(await heard(page.seen), [{ type: "start" }]);
  const agent = fakeAgent(() => {});
  link.register(agent.port);
  assert.deepEqual(await heard(agent.seen), [{ type: "join", infohash: HASH, torrent: "t" }]);
  link.join({ ...READ, infohash: "2".repeat(40) });
  assert.deepEqual((await heard(agent.seen, 2)).at(-1), { type: "join", infohash: "2".repeat(40), torrent: "t" });
  page.close();
  agent.close();
});

test("a page offering after a read wanted peers is asked at once", async () => {
  const link = new AgentLink();
  link.join(READ);
  const page = fakeAgent(() => {});
  link.offer(page.port);
  assert.deepEqual(await heard(page.seen), [{ type: "start" }]);
  page.close();
});

test("a read that wanted peers while only a page gone had offered: the next page to offer is asked at once", { timeout: 10_000 }, async () => {
  const link = new AgentLink();
  const gone = fakeAgent(() => {});
  const next = fakeAgent(() => {});
  const later = fakeAgent(() => {});
  try {
    link.offer(gone.port);
    gone.close(); // the tab navigated: its page will never start an agent
    link.join(READ); // asks the gone page
    link.offer(next.port);
    assert.deepEqual(await heard(next.seen), [{ type: "start" }]);
    // An agent registering ends the want.
    link.register(next.port);
    link.offer(later.port);
    assert.deepEqual(await heard(later.seen), []);
  } finally {
    next.close();
    later.close();
  }
});

test("replacing: what the leaving page's agent reported no longer counts, a join summons the new page's, and the next read pings", { timeout: 5000 }, async () => {
  const leaving = fakeAgent(() => {});
  const link = new AgentLink({ pingMs: 100 });
  link.register(leaving.port, "old");
  link.receive(leaving.port, { type: "peers", infohash: HASH, have: bits(0) });
  assert.equal(link.holds(HASH, 0, 0), true);
  assert.deepEqual(link.holdings(), { [HASH]: [0x80, 0] });
  link.replacing();
  assert.equal(link.holds(HASH, 0, 0), false);
  assert.deepEqual(link.holdings(), {});
  const page = fakeAgent(() => {});
  link.offer(page.port);
  link.join({ ...READ, infohash: HASH });
  assert.deepEqual(await heard(page.seen), [{ type: "start" }]);
  await assert.rejects(link.read(READ, 1000), AgentUnavailable); // the leaving agent is silent
  assert.deepEqual(leaving.seen.map((m) => m.type), ["ping"]); // one ping: the join's and the read's
  page.close();
  leaving.close();
});

test("replacing: a live agent in another tab answers the ping, stays, and what it reported counts again", async () => {
  const other = fakeAgent((m, port) => m.type === "ping" && port.postMessage({ type: "pong", id: m.id }));
  const link = new AgentLink({ pingMs: 100 });
  link.register(other.port, "tab-b");
  link.receive(other.port, { type: "peers", infohash: HASH, have: bits(0) });
  link.replacing();
  assert.equal(link.holds(HASH, 0, 0), false);
  await link.live();
  assert.equal(link.holds(HASH, 0, 0), true);
  assert.deepEqual(other.seen.map((m) => m.type), ["ping"]);
  assert.equal(await link.live(), other.port); // fresh again: no second ping
  assert.equal(other.seen.length, 1);
  other.close();
});

test("replacing: a join told to an agent answering since the navigation also starts the new page's agent", { timeout: 5000 }, async () => {
  // Firefox keeps the page being left answering: its agent gets the join and dies with it.
  const old = fakeAgent((m, port) => m.type === "ping" && port.postMessage({ type: "pong", id: m.id }));
  const link = new AgentLink({ pingMs: 100 });
  link.register(old.port, "tab-a");
  link.replacing();
  await link.live();
  link.join({ ...READ, infohash: HASH });
  assert.deepEqual((await heard(old.seen, 2)).map((m) => m.type), ["ping", "join"]);
  const page = fakeAgent(() => {});
  link.offer(page.port); // the new page's install.js, after the read
  assert.deepEqual(await heard(page.seen), [{ type: "start" }]);
  // Once an agent registers, joins go to it alone again.
  const agent = fakeAgent(() => {});
  link.register(agent.port);
  const later = fakeAgent(() => {});
  link.offer(later.port);
  link.join({ ...READ, infohash: "2".repeat(40) });
  await heard(agent.seen, 2);
  assert.deepEqual(later.seen, []);
  for (const a of [old, page, agent, later]) a.close();
});

test("replacing: the joins, pieces and stored notes of the moment reach an agent that stays once it answers", { timeout: 5000 }, async () => {
  let pong = null; // the agent answers when the test says (a busy leader tab)
  const other = fakeAgent((m, port) => {
    if (m.type === "ping") pong = () => port.postMessage({ type: "pong", id: m.id });
  });
  const link = new AgentLink({ pingMs: 2000 });
  try {
    link.register(other.port, "tab-b");
    link.replacing();
    link.join({ ...READ, infohash: HASH });
    link.join({ ...READ, infohash: HASH }); // a second read of that shard: one join is enough
    link.piece({ infohash: HASH, torrent: "t", index: 1, bytes: new Uint8Array([7]) });
    link.stored(HASH);
    await new Promise((resolve) => setTimeout(resolve, 250)); // the stored note is due by now
    assert.deepEqual((await heard(other.seen)).map((m) => m.type), ["ping"]);
    pong();
    const seen = await heard(other.seen, 4);
    assert.deepEqual(
      seen.slice(1).map((m) => [m.type, m.index ?? null]),
      [["join", null], ["piece", 1], ["stored", null]],
    );
    link.piece({ infohash: HASH, torrent: "t", index: 2, bytes: new Uint8Array([8]) });
    assert.equal((await heard(other.seen, 5)).at(-1).index, 2, "confirmed: told at once");
  } finally {
    other.close();
  }
});

test("replacing: what waited for a leaving agent that never answers goes to no one; a new agent gets the joins and pieces", { timeout: 5000 }, async () => {
  const leaving = fakeAgent(() => {});
  const next = fakeAgent(() => {});
  const link = new AgentLink({ pingMs: 50 });
  try {
    link.register(leaving.port, "old");
    link.replacing();
    link.join({ ...READ, infohash: HASH });
    link.piece({ infohash: HASH, torrent: "t", index: 1, bytes: new Uint8Array([7]) });
    assert.equal(await link.live(), null); // dropped after the ping's 50 ms
    link.register(next.port, "new");
    const seen = await heard(next.seen, 2);
    assert.deepEqual(seen.map((m) => m.type), ["join", "piece"]);
    assert.deepEqual(leaving.seen.map((m) => m.type), ["ping"]);
  } finally {
    leaving.close();
    next.close();
  }
});
