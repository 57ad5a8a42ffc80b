// The runtime scripts (planktos/install.js, planktos/agent.js), network first: exactly what the
// browser would get without us while the origin answers, the last good copy when it does not.

const CACHE = "planktos-v1";

/** The network's answer to `request` (kept when 200), or the kept copy if the network fails. */
export async function networkFirst(request, background) {
  try {
    const response = await fetch(request);
    if (response.status === 200 && (response.type === "basic" || response.type === "default")) {
      const copy = response.clone();
      background(caches.open(CACHE).then((cache) => cache.put(request.url, copy)));
    }
    return response;
  } catch (err) {
    const kept = await caches
      .open(CACHE)
      .then((cache) => cache.match(request.url))
      .catch(() => undefined);
    if (kept) return kept;
    throw err;
  }
}
