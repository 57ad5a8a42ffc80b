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

const READ = { infohash: "1".repeat(40), torrent: "t", webseed: "w", index: 2, start: 0, end: 9 };

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

test("an expected agent: a read waits for its port, within the read's deadline", async () => {
  const agent = streamingAgent();
  const link = new AgentLink();
  link.expect(1000);
  const reading = link.read(READ, 1000);
  setTimeout(() => link.register(agent.port), 50);
  const { value } = await (await reading).getReader().read();
  assert.equal(value.byteLength, 10);
  agent.close();
});

test("an expected agent that never comes: the read rejects by its deadline", async () => {
  const link = new AgentLink();
  link.expect(5000);
  const t = Date.now();
  await assert.rejects(link.read(READ, 100), AgentUnavailable);
  assert.ok(Date.now() - t < 1000);
});

test("no-agent ends the wait at once", async () => {
  const link = new AgentLink();
  link.expect(5000);
  const t = Date.now();
  const reading = link.read(READ, 5000);
  setTimeout(() => link.noAgent(), 20);
  await assert.rejects(reading, AgentUnavailable);
  assert.ok(Date.now() - t < 1000);
});

test("a read with no agent asks the pages that offered to start one, once", async () => {
  const offers = [fakeAgent(() => {}), fakeAgent(() => {})];
  const link = new AgentLink();
  for (const o of offers) link.offer(o.port);
  await assert.rejects(link.read(READ, 10), AgentUnavailable);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(
    offers.map((o) => o.seen),
    [[{ type: "start" }], [{ type: "start" }]],
  );
  assert.deepEqual(link.summoners, []);
  offers.forEach((o) => o.close());
});

test("a page offering while a read waits is asked at once", async () => {
  const agent = streamingAgent();
  const page = fakeAgent((m) => m.type === "start" && link.register(agent.port));
  const link = new AgentLink();
  link.expect(1000);
  const reading = link.read(READ, 1000);
  setTimeout(() => link.offer(page.port), 20);
  assert.ok((await reading).getReader);
  page.close();
  agent.close();
});

test("a navigation's page on its way: the next read pings the port it may replace, and takes the new agent's", { timeout: 5000 }, async () => {
  // The replaced page is still listed as a client while it unloads; its agent answers nothing.
  const leaving = fakeAgent(() => {});
  const agent = streamingAgent();
  const link = new AgentLink({ pingMs: 100 });
  link.register(leaving.port, "old");
  link.expect(1000);
  const reading = link.read(READ, 1000);
  setTimeout(() => link.register(agent.port, "new"), 20);
  assert.ok((await reading).getReader);
  assert.deepEqual(leaving.seen.map((m) => m.type), ["ping"]);
  assert.equal(agent.seen[0].type, "read");
  leaving.close();
  agent.close();
});

test("a navigation's page on its way: a live agent in another tab answers the ping and stays", async () => {
  const other = fakeAgent((m, port) => m.type === "ping" && port.postMessage({ type: "pong", id: m.id }));
  const link = new AgentLink({ pingMs: 100 });
  link.register(other.port, "tab-b");
  link.expect(1000);
  await link.live();
  assert.deepEqual(other.seen.map((m) => m.type), ["ping"]);
  assert.equal(await link.live(), other.port); // fresh again: no second ping
  assert.equal(other.seen.length, 1);
  other.close();
});
