// Bytes from the origin server, fetched by the service worker itself (never from the HTTP
// cache: `cache: "no-store"`), for when neither the store nor the agent has them.

export class OriginError extends Error {}

/**
 * A ReadableStream of bytes start..end (inclusive) of `url`, a file of `length` bytes. Asks
 * with Range unless the whole file is wanted; a 200 answer is skipped up to `start`.
 */
export async function originStream(url, start, end, length) {
  const whole = start === 0 && end === length - 1;
  const headers = whole ? {} : { Range: `bytes=${start}-${end}` };
  const response = await fetch(url, { headers, cache: "no-store", credentials: "same-origin" });
  if (response.status === 206 && !whole) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
    if (m && Number(m[1]) === start && Number(m[2]) >= end) return response.body;
  } else if (response.status === 200 && response.body) {
    return start === 0 ? response.body : response.body.pipeThrough(skipBytes(start));
  }
  response.body?.cancel().catch(() => {});
  throw new OriginError(url);
}

function skipBytes(n) {
  let left = n;
  return new TransformStream({
    transform(chunk, controller) {
      if (left >= chunk.byteLength) {
        left -= chunk.byteLength;
        return;
      }
      controller.enqueue(chunk.subarray(left));
      left = 0;
    },
  });
}
