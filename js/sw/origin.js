// Bytes from the origin server, fetched by the service worker itself, for when neither the
// store nor the agent has them. Ranges skip the HTTP cache (`cache: "no-store"`); a whole file
// may come from it (`cache`): the page a visitor saw before the worker took control left its
// style sheets and scripts there, and what the cache holds fresh costs no round trip (a
// revalidation each cost the video page of the crowd benchmark ~90 ms behind a congested
// link), a 304 a few hundred bytes where the file costs all of it. The bytes are checked
// against SHA-256 either way: a cached copy older than the build is fetched again.

export class OriginError extends Error {}

/**
 * A ReadableStream of bytes start..end (inclusive) of `url`, a file of `length` bytes. Asks
 * with Range unless the whole file is wanted; a 200 answer is skipped up to `start`.
 * `cache`: the fetch's cache mode for a whole file (a range skips the HTTP cache);
 * `signal`: an AbortSignal that cancels the request.
 */
export async function originStream(url, start, end, length, { cache = "no-store", signal } = {}) {
  const whole = start === 0 && end === length - 1;
  const headers = whole ? {} : { Range: `bytes=${start}-${end}` };
  const response = await fetch(url, { headers, cache: whole ? cache : "no-store", credentials: "same-origin", signal });
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

/** How many Resource Timing entries `url` has: pass it to `cameOverNetwork` after the read. */
export function timingsOf(url, perf = globalThis.performance) {
  // The buffer holds 250 entries by default and then drops new ones.
  if ((perf?.getEntriesByType?.("resource")?.length ?? 0) > 200) perf.clearResourceTimings();
  return perf?.getEntriesByName?.(url)?.length ?? 0;
}

/**
 * Whether the network carried the body of the fetch of `url` that was the `before`+1-th
 * (fewer bytes transferred than the body's: the HTTP cache answered after a 304); null when
 * nothing went over the network (a fresh cached copy says nothing of the origin). The entry
 * is added a little after the body ends: waits up to `waitMs` for it; false when the browser
 * does not say, so that such a read tells the origin's latency, not its throughput.
 */
export async function cameOverNetwork(url, before, options = {}) {
  const { perf = globalThis.performance, waitMs = 1000 } = options;
  for (const until = Date.now() + waitMs; ; ) {
    const entry = perf?.getEntriesByName?.(url)?.[before];
    if (entry) return entry.transferSize === 0 && entry.encodedBodySize > 0 ? null : entry.transferSize >= entry.encodedBodySize;
    if (!perf?.getEntriesByName || Date.now() >= until) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
