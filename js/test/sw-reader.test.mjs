import assert from "node:assert/strict";
import { test } from "node:test";
import { ChunkReader, ShortReadError, StallError } from "../sw/reader.js";

/** A stream that sends one byte every `everyMs`, `count` times. */
function trickle(count, everyMs) {
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      await new Promise((resolve) => setTimeout(resolve, everyMs));
      controller.enqueue(new Uint8Array([sent++]));
      if (sent === count) controller.close();
    },
  });
}

test("exact reads across chunks, and a short stream", async () => {
  const reader = new ChunkReader(trickle(5, 1));
  assert.deepEqual([...(await reader.take(2))], [0, 1]);
  assert.deepEqual([...(await reader.take(3))], [2, 3, 4]);
  await assert.rejects(reader.take(1), ShortReadError);
});

test("a trickle never stalls, but is cut at totalMs", async () => {
  const stalls = new ChunkReader(trickle(100, 20), { stallMs: 200 });
  assert.equal((await stalls.take(10)).byteLength, 10); // 200 ms of bytes, no stall
  stalls.cancel();
  const started = Date.now();
  const bounded = new ChunkReader(trickle(100, 20), { stallMs: 200, totalMs: 150 });
  await assert.rejects(bounded.take(100), StallError);
  const took = Date.now() - started;
  assert.ok(took >= 140 && took < 1000, `cut after ${took} ms`);
  bounded.cancel();
});
