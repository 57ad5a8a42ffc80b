// What a visitor reports to `POST <base>planktos/stats` (README, "Offload statistics"):
// counter deltas since the previous report, so the server only ever adds. Pure: importable in
// Node.
//
// Sources: the service worker counts the verified bytes it took from the store, from peers
// (through the agent) and from the origin ({type: "stats"}, js/sw/counters.js): only bytes
// that matched their SHA-256 count as peer bytes. The agent counts what it uploaded and the
// pieces WebTorrent rejected.

/** Cumulative counters of the service worker that a report draws on. */
export function swTotals(sw) {
  return {
    store: count(sw?.bytes?.store),
    peers: count(sw?.bytes?.peer),
    origin: count(sw?.bytes?.origin),
    rejected: count(sw?.rejected?.count),
  };
}

/** Cumulative counters of the agent (js/agent/counters.js) that a report draws on. */
export function agentTotals(agent) {
  return {
    uploaded: count(agent?.bytesUploaded),
    rejected: count(agent?.piecesRejected),
  };
}

/** `now - since` per key; a counter below its baseline was restarted, so all of it is new. */
export function delta(now, since) {
  const out = {};
  for (const [key, value] of Object.entries(now)) {
    const before = count(since?.[key]);
    out[key] = value >= before ? value - before : value;
  }
  return out;
}

/** The report body's counters from the two deltas and the current number of peer wires. */
export function reportOf(sw, agent, peersConnected) {
  return {
    store: sw.store,
    peers: sw.peers,
    origin: sw.origin,
    uploaded: agent.uploaded,
    rejected: sw.rejected + agent.rejected,
    peers_connected: Math.min(count(peersConnected), 1000),
  };
}

/** Whether a report carries anything new (the peer count alone is not news). */
export function hasNews(report) {
  return report.store + report.peers + report.origin + report.uploaded + report.rejected > 0;
}

/** The JSON body of a report, as `POST /planktos/stats` takes it. */
export function reportBody(id, report) {
  return JSON.stringify({ v: 1, id, ...report });
}

/** A random visitor id for the server's rate limit (22 URL-safe characters, 128 bits). */
export function randomId(getRandomValues = (a) => crypto.getRandomValues(a)) {
  const bytes = getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function count(v) {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? Math.floor(v) : 0;
}
