import assert from "node:assert/strict";
import { test } from "node:test";
import { exactStream } from "../agent/exact-stream.js";

function source(chunks) {
  let i = 0;
  const it = {
    returned: false,
    async next() {
      return i < chunks.length ? { value: Uint8Array.from(chunks[i++]), done: false } : { done: true };
    },
    async return() {
      it.returned = true;
      return { done: true };
    },
  };
  return it;
}

async function collect(stream) {
  const out = [];
  for await (const chunk of stream) out.push(...chunk);
  return out;
}

test("passes exactly `length` bytes and cuts the rest", async () => {
  const it = source([[1, 2], [3, 4, 5], [6]]);
  let ended = 0;
  assert.deepEqual(await collect(exactStream(it, 4, () => ended++)), [1, 2, 3, 4]);
  assert.equal(it.returned, true);
  assert.equal(ended, 1);
});

test("a source that ends short errors the stream", async () => {
  await assert.rejects(collect(exactStream(source([[1, 2]]), 3)), /1 bytes short/);
});

test("cancelling returns the iterator (WebTorrent deselects the pieces)", async () => {
  const it = source([[1], [2], [3]]);
  let ended = 0;
  const stream = exactStream(it, 3, () => ended++);
  const reader = stream.getReader();
  assert.deepEqual([...(await reader.read()).value], [1]);
  await reader.cancel();
  assert.equal(it.returned, true);
  assert.equal(ended, 1);
});

test("zero length closes at once", async () => {
  assert.deepEqual(await collect(exactStream(source([[1]]), 0)), []);
});
