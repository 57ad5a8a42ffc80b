// The runtime scripts (planktos/install.js, planktos/agent.js). A copy kept by this build of
// the worker is answered at once and revalidated in the background: every page loads
// install.js (an async script delays `load`), and a round trip to the origin for it cost a
// repeat visit more than all its store reads. Otherwise (no copy yet, or one kept by an older
// build: a rebuild may change the runtime) network first, kept when 200; the kept copy when
// the network fails, so a returning visitor with the origin down still gets its agent. The
// worker keeps install.js when it installs, and where the browser has static routes
// (routes.js) it answers install.js from that copy without waking the worker.

import { CACHE } from "./manifest.js";
const BUILD_HEADER = "x-planktos-build";

/** The answer to a runtime script request; `background(promise)` keeps the worker alive. */
export async function runtimeScript(request, background, build) {
  const kept = await caches
    .open(CACHE)
    .then((cache) => cache.match(request.url))
    .catch(() => undefined);
  if (kept?.headers.get(BUILD_HEADER) === build) {
    background(fetch(request.url, { cache: "no-cache" }).then((r) => keepScript(request.url, r, build, kept)));
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
  await (await caches.open(CACHE)).put(url, new Response(await response.arrayBuffer(), { headers }));
}
