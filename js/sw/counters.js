// What the service worker did, for tests, the demo and benchmarks ({type: "stats"} message).

export function newCounters() {
  return {
    bytes: { store: 0, peer: 0, origin: 0 }, // verified bytes taken from each source (peer: the agent's peers)
    rejected: { count: 0, bytes: 0, store: 0, peer: 0, origin: 0 }, // bytes that failed SHA-256
    served: 0, // body bytes handed to pages
    requests: { handled: 0, fallback: 0, failed: 0 }, // answered by us / passed to fetch() after an error / network error
  };
}

export function took(counters, source, n) {
  counters.bytes[source] += n;
}

export function rejected(counters, source, n) {
  counters.rejected.count += 1;
  counters.rejected.bytes += n;
  counters.rejected[source] += n;
}

/** Add saved counters (from before the worker was stopped) into live ones. Pure. */
export function addCounters(into, saved) {
  for (const [key, value] of Object.entries(saved ?? {})) {
    if (typeof value === "number" && typeof into[key] === "number") into[key] += value;
    else if (value && typeof value === "object" && into[key] && typeof into[key] === "object") addCounters(into[key], value);
  }
  return into;
}
