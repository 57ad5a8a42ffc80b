// The profile's one WebTorrent client, counted (received bytes: guard.js, once verified).

import WebTorrent from "webtorrent";
import { counters } from "./counters.js";
import { startPipeline } from "./internals.js";

/** A WebTorrent client for browsers, with the manifest's ICE servers (default: none). */
export function createClient(runtime) {
  const client = new WebTorrent({
    tracker: { rtcConfig: { iceServers: Array.isArray(runtime.ice_servers) ? runtime.ice_servers : [] } },
    dht: false,
    lsd: false,
    utPex: false,
    natUpnp: false,
    natPmp: false,
  });
  // Errors are answered per request (the service worker falls back to the origin); an
  // unhandled 'error' event would throw.
  client.on("error", () => {});
  // Tracker down, peer gone, bad piece (guard.js counts those): expected, never printed.
  client.on("torrent", (torrent) => torrent.on("wire", countWire));
  return client;
}

function countWire(wire) {
  wire.on("upload", (n) => {
    counters.bytesUploaded += n;
  });
  if (wire.type === "webSeed") return;
  startPipeline(wire);
  counters.peersConnected += 1;
  counters.firstWireMs ||= Math.round(performance.now()); // ms after this page's navigation began
  wire.once("close", () => {
    counters.peersConnected -= 1;
  });
}
