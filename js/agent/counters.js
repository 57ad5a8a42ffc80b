// What the agent did, for reporting (bench/, tests, a future stats page). One object, mutated
// in place: read it with `(await import("<base>planktos/agent.js")).counters`.
export const counters = {
  bytesFromPeers: 0, // piece bytes received over WebRTC whose piece then verified (SHA-1)
  bytesRejected: 0, // piece bytes received over WebRTC whose piece failed SHA-1
  bytesUploaded: 0, // piece bytes sent to peers
  piecesRejected: 0, // pieces that failed SHA-1 verification in WebTorrent
  peersDropped: 0, // peers disconnected and refused for sending a bad piece (guard.js)
  peersRefused: 0, // connections from dropped peers refused since
  peersConnected: 0, // WebRTC wires open now
  firstWireMs: 0, // when this page's first WebRTC wire opened, ms after its navigation began (agent start, issue 11)
  reads: 0, // read requests from the service worker
  readErrors: 0, // read requests answered with an error
  trackersLost: 0, // tracker connections that closed (dropped until the tracker answers again)
  prefetched: 0, // bytes of linked pages' files the worker answered from the store or peers (prefetch.js)
  prefetchPasses: 0, // prefetches of this page's links finished
  swBytesKnown: 0, // the worker's verified bytes (store + peers + origin) as the stats reporter last heard them (stats-reporter.js)
  leader: false, // whether this page runs the profile's WebTorrent client
};
