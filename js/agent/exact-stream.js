// A web ReadableStream of exactly `length` bytes from an async iterator of Uint8Arrays. Pure.
//
// WebTorrent's file iterator reads `{end: 0}` as "to the end of the file", and a torrent that
// is destroyed ends its iterators early; this wrapper cuts what is too long and errors on what
// is too short, so the service worker never gets a silently truncated body. Aborting `signal`
// errors the stream at once with its reason (its only source of pieces is gone).

export function exactStream(iterator, length, onEnd = () => {}, signal = null) {
  let left = length;
  let ended = false;
  const aborted = new Promise((_, reject) => {
    if (signal?.aborted) reject(signal.reason);
    else signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
  aborted.catch(() => {}); // read by pull() only
  const finish = () => {
    if (ended) return;
    ended = true;
    onEnd();
    // Stops the iterator, which deselects the pieces it asked for.
    Promise.resolve(iterator.return?.()).catch(() => {});
  };
  return new ReadableStream({
    async pull(controller) {
      if (left === 0) {
        finish();
        controller.close();
        return;
      }
      let step;
      try {
        step = await Promise.race([iterator.next(), aborted]);
      } catch (err) {
        finish();
        controller.error(err);
        return;
      }
      if (step.done) {
        finish();
        controller.error(new Error(`stream ended ${left} bytes short`));
        return;
      }
      let chunk = step.value;
      if (chunk.byteLength > left) chunk = chunk.subarray(0, left);
      left -= chunk.byteLength;
      if (chunk.byteLength) controller.enqueue(chunk);
      if (left === 0) {
        finish();
        controller.close();
      }
    },
    cancel() {
      finish();
    },
  });
}
