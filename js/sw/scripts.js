// The runtime scripts (planktos/install.js, planktos/agent.<hash>.js). The agent's name is its
// content's hash (immutable): any kept copy of it is answered at once, never revalidated, and
// keeping one drops the copies of other agents. For install.js (a stable name), a copy kept
// by this build of the worker is answered at once and revalidated in the background: every page loads
// install.js (an async script delays `load`), and a round trip to the origin for it cost a
// repeat visit more than all its store reads. Otherwise (no copy yet, or one kept by an older
// build: a rebuild may change the runtime) network first, kept when 200; the kept copy when
// the network fails, so a returning visitor with the origin down still gets its agent. The
// worker keeps install.js when it installs, and where the browser has static routes
// (routes.js) it answers install.js from that copy without waking the worker.

import { CACHE } from "./manifest.js";
import { isImmutableScript } from "./routing.js";
const BUILD_HEADER = "x-planktos-build";

/** The answer to a runtime script request; `background(promise)` keeps the worker alive. */
export async function runtimeScript(request, background, build) {
  const kept = await caches
    .open(CACHE)
    .then((cache) => cache.match(request.url))
    .catch(() => undefined);
  const immutable = isImmutableScript(request.url);
  if (kept && (immutable || kept.headers.get(BUILD_HEADER) === build)) {
    if (!immutable) {
      background(fetch(request.url, { cache: "no-cache" }).then((r) => keepScript(request.url, r, build, kept)));
    }
    return kept;
  }
  try {
    const response = await fetch(request);
    background(keepScript(request.url, response.clone(), build));
    return response;
  } catch (err) {
    if (kept) return kept;
    throw err;
  }
}

/** Keep a 200 same-origin answer tagged with the build, unless `kept` has its ETag already. */
export async function keepScript(url, response, build, kept) {
  response = await response;
  const etag = response.headers.get("etag");
  // A refresh must not bring back the cache the kill switch deleted meanwhile.
  const gone = kept && !(await caches.has(CACHE));
  if (gone || response.status !== 200 || response.type === "opaque" || (etag && etag === kept?.headers.get("etag"))) {
    return response.body?.cancel();
  }
  const headers = new Headers(response.headers);
  headers.set(BUILD_HEADER, build);
  // The body kept is the decoded one: the coding and length of a precompressed copy no longer apply.
  headers.delete("content-encoding");
  headers.delete("content-length");
  const cache = await caches.open(CACHE);
  await cache.put(url, new Response(await response.arrayBuffer(), { headers }));
  if (isImmutableScript(url)) {
    // One agent kept: the copies of older ones (hashed, or the plain agent.js of old builds) go.
    for (const key of await cache.keys()) {
      if (key.url !== url && /\/planktos\/agent(\.[0-9a-f]{16})?\.js$/.test(new URL(key.url).pathname)) {
        await cache.delete(key);
      }
    }
  }
}
