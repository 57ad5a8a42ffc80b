// The profile's one WebTorrent client, counted.

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
  client.on("torrent", countTorrent);
  return client;
}

function countTorrent(torrent) {
  torrent.on("wire", countWire);
  // Tracker down, peer gone, duplicate web seed, bad piece: expected, never printed.
  torrent.on("warning", (err) => {
    if (/failed verification/.test(String(err?.message))) counters.piecesRejected += 1;
  });
}

function countWire(wire) {
  const fromWebSeed = wire.type === "webSeed";
  wire.on("download", (n) => {
    if (!fromWebSeed) counters.bytesFromPeers += n;
  });
  wire.on("upload", (n) => {
    counters.bytesUploaded += n;
  });
  if (fromWebSeed) return;
  startPipeline(wire);
  counters.peersConnected += 1;
  wire.once("close", () => {
    counters.peersConnected -= 1;
  });
}
