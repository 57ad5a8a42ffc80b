// The runtime scripts (planktos/install.js, planktos/agent.js). A copy kept by this build of
// the worker is answered at once and revalidated in the background: every page loads
// install.js (an async script delays `load`), and a round trip to the origin for it cost a
// repeat visit more than all its store reads. Otherwise (no copy yet, or one kept by an older
// build: a rebuild may change the runtime) network first, kept when 200; the kept copy when
// the network fails, so a returning visitor with the origin down still gets its agent.

const CACHE = "planktos-v1";
const BUILD_HEADER = "x-planktos-build";
const keptTags = new Map(); // URL -> ETag of the copy this worker last kept (agent.js: ~250 KB)

/** The answer to a runtime script request; `background(promise)` keeps the worker alive. */
export async function runtimeScript(request, background, build) {
  const kept = await caches
    .open(CACHE)
    .then((cache) => cache.match(request.url))
    .catch(() => undefined);
  if (kept && kept.headers.get(BUILD_HEADER) === build) {
    background(refresh(request, build));
    return kept;
  }
  try {
    const response = await fetch(request);
    background(keep(request.url, response.clone(), build));
    return response;
  } catch (err) {
    if (kept) return kept;
    throw err;
  }
}

async function refresh(request, build) {
  await keep(request.url, await fetch(request.url, { cache: "no-cache" }), build);
}

/** Keep a 200 same-origin answer, tagged with the build, unless this worker kept it already. */
async function keep(url, response, build) {
  const etag = response.headers.get("etag");
  const ours = response.status === 200 && (response.type === "basic" || response.type === "default");
  if (!ours || (etag && keptTags.get(url) === etag)) {
    response.body?.cancel().catch(() => {});
    return;
  }
  const headers = new Headers(response.headers);
  headers.set(BUILD_HEADER, build);
  const copy = new Response(await response.arrayBuffer(), { status: 200, headers });
  await (await caches.open(CACHE)).put(url, copy);
  keptTags.set(url, etag);
}
