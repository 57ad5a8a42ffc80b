// Every use of private internals of WebTorrent and the packages it pins, in one place. Each
// does something their public API cannot:
// - mark pieces the service worker wrote as verified without re-hashing the whole torrent
//   (`torrent.rescanFiles()` reads and hashes every piece and resets pieces in flight);
// - read a piece's SHA-1 from the torrent's metadata, to check a piece the service worker
//   assembled before keeping it (`_hashes`);
// - give a torrent other trackers (WebTorrent has no call to add or remove one);
// - learn that a tracker's WebSocket closed, and stop bittorrent-tracker's reconnection
//   attempts, which Chromium logs as console errors while the tracker is down, and drop
//   what bittorrent-tracker sends on a socket that is already closing (an announce whose
//   offers were made while the tracker stopped), which Chromium logs as well;
// - refuse a peer the agent dropped for a bad piece when the tracker brings it again
//   (WebTorrent's own blocklist is by IP address, which WebRTC peers do not have), and learn
//   the id the tracker knows a wire's peer by (`_peers`);
// - learn how many peers the tracker counts in a torrent's swarm (WebTorrent's
//   "trackerAnnounce" event drops the counts its tracker client reports);
// - keep more requests in flight on a new peer connection (WebTorrent sizes the pipeline from
//   the wire's measured speed, starting at 2 blocks).
// They were written against the versions in PINNED (package-lock.json holds them); with
// another WebTorrent bundled they do nothing (pieces are fetched again, trackers stay as they
// are), and js/test/agent-internals.test.mjs fails on any other installed version of the
// three, so an upgrade has to look here first.

import webtorrentPackage from "webtorrent/package.json" with { type: "json" };

export const PINNED = {
  webtorrent: "3.0.21",
  "torrent-discovery": "11.0.21",
  "bittorrent-tracker": "11.2.3",
  "@thaunknown/simple-websocket": "9.1.5",
};

/** Whether the bundled WebTorrent is the one these functions were written against. */
export const FITS = webtorrentPackage.version === PINNED.webtorrent;

/**
 * Tell a torrent that piece `index`, found in its store, is verified (the store holds only
 * verified pieces) and tell its peers we have it: the step WebTorrent itself takes after
 * writing a piece. Returns whether it could.
 */
export function markStored(torrent, index) {
  if (!FITS || typeof torrent._markVerified !== "function") return false;
  torrent._markVerified(index);
  for (const wire of torrent.wires) wire.have(index);
  return true;
}

/** The SHA-1 (hex) of piece `index` of a ready torrent, from its metadata, or null. */
export function pieceHash(torrent, index) {
  if (!FITS) return null;
  const hash = torrent._hashes?.[index];
  return typeof hash === "string" ? hash : null;
}

/** The torrent's tracker client (a bittorrent-tracker Client), or null. */
export function trackerClient(torrent) {
  return torrent.discovery?.tracker ?? null;
}

/**
 * Replace a torrent's trackers with `urls`: torrent-discovery makes its tracker client from
 * `_announce` with `_createTracker()`, as its own `updatePort()` does. `made(client)` gets
 * the new client. Returns whether it could.
 */
export function setTrackers(torrent, urls, made = () => {}) {
  const discovery = torrent.discovery;
  if (!FITS || torrent.destroyed || !discovery || discovery.destroyed) return false;
  if (typeof discovery._createTracker !== "function") return false;
  discovery._announce = urls;
  const renew = () => {
    if (discovery.destroyed || torrent.destroyed) return;
    discovery.tracker = urls.length ? discovery._createTracker() : null;
    if (discovery.tracker) made(discovery.tracker);
  };
  const old = discovery.tracker;
  discovery.tracker = null;
  if (!old || old.destroyed) renew();
  else old.destroy(renew);
  return true;
}

/**
 * Call `lost(url)` when the WebSocket to one of the client's trackers closes (the tracker
 * stopped), before bittorrent-tracker's own handler runs: `lost` must destroy the tracker
 * client at once (setTrackers does), which makes that handler return without scheduling a
 * reconnection. Call again for each new client.
 */
export function whenTrackerLost(client, lost) {
  if (!FITS || !client || !Array.isArray(client._trackers)) return;
  for (const tracker of client._trackers) {
    const socket = tracker.socket;
    if (!socket || typeof socket.prependOnceListener !== "function") continue;
    quietSend(socket);
    const url = tracker.announceUrl;
    const gone = () => {
      if (!client.destroyed && !tracker.destroyed) lost(url);
    };
    // Either may come first; bittorrent-tracker reconnects after each.
    socket.prependOnceListener("error", gone);
    socket.prependOnceListener("close", gone);
  }
}

/**
 * Make a tracker socket drop messages once its WebSocket is no longer open. bittorrent-tracker
 * checks that the socket is connected before it makes an announce's offers (tens of ms), not
 * when it sends them: a tracker that stops in between makes `WebSocket.send` log "WebSocket is
 * already in CLOSING or CLOSED state". A message dropped there is lost either way; the close
 * handler that follows (`whenTrackerLost`) takes the tracker out.
 */
function quietSend(socket) {
  if (socket.planktosQuiet || typeof socket.send !== "function") return;
  const send = socket.send;
  socket.send = function (chunk) {
    if (this._ws && this._ws.readyState !== 1) return;
    send.call(this, chunk);
  };
  socket.planktosQuiet = true;
}

/**
 * Make a torrent refuse the peers whose id `refused(id)` approves, as WebTorrent refuses a
 * blocked address: the connection (a WebRTC peer from the tracker) is destroyed at once.
 * Returns whether it could.
 */
export function refusePeers(torrent, refused) {
  if (!FITS || typeof torrent.addPeer !== "function") return false;
  const add = torrent.addPeer;
  torrent.addPeer = function (peer, ...rest) {
    if (peer && typeof peer === "object" && typeof peer.id === "string" && refused(peer.id)) {
      peer.destroy?.();
      return false;
    }
    return add.call(this, peer, ...rest);
  };
  return true;
}

/**
 * The id under which the tracker introduced the peer at the other end of `wire` (a WebRTC
 * peer's `peer_id` in the offer or answer), or null. It may differ from the id in the wire's
 * handshake, which a peer can make anew for each connection.
 */
export function peerIdOf(torrent, wire) {
  if (!FITS || !(torrent._peers instanceof Map)) return null;
  for (const peer of torrent._peers.values()) if (peer.wire === wire && typeof peer.id === "string") return peer.id;
  return null;
}

/**
 * Call `fn(others)` each time a tracker answers one of the torrent's announces: `others`, the
 * peers it counts in the swarm (`complete + incomplete`) less this one, which it counted. The
 * counts come in the tracker client's "update" event; that client is made when discovery
 * starts (on `_startDiscovery`, after `client.add` returns when the store is checked first)
 * and made again by setTrackers (`_createTracker`). Returns whether it could.
 */
export function onSwarmCounts(torrent, fn) {
  if (!FITS || typeof torrent._startDiscovery !== "function") return false;
  const listened = new WeakSet();
  const listen = (tracker) => {
    if (!tracker || listened.has(tracker) || typeof tracker.on !== "function") return;
    listened.add(tracker);
    tracker.on("update", (data) => {
      const counted = Number(data?.complete) + Number(data?.incomplete);
      if (Number.isSafeInteger(counted) && counted >= 0) fn(Math.max(0, counted - 1));
    });
  };
  const hook = (discovery) => {
    listen(discovery.tracker);
    const create = discovery._createTracker;
    if (typeof create !== "function") return;
    discovery._createTracker = function (...args) {
      const tracker = create.apply(this, args);
      listen(tracker);
      return tracker;
    };
  };
  if (torrent.discovery) hook(torrent.discovery);
  else {
    const start = torrent._startDiscovery;
    torrent._startDiscovery = function (...args) {
      const out = start.apply(this, args);
      if (this.discovery) hook(this.discovery);
      return out;
    };
  }
  return true;
}

/** Blocks a new peer connection gets in flight: what half a second at this speed brings. */
export const START_SPEED = 512 * 1024;

/**
 * Let a peer wire start with about 18 block requests in flight instead of 2. WebTorrent keeps
 * `2 + 0.5 s × downloadSpeed() / 16 KiB` requests outstanding (its private
 * getBlockPipelineLength), so a fresh wire ramps up from 2 blocks, one round trip at a time:
 * a 1.4 MB page of images from a peer on loopback came at ≈ 2-3 MB/s. The wire's speed as
 * WebTorrent sees it is at least START_SPEED; the peer's `reqq` still bounds the pipeline.
 */
export function startPipeline(wire) {
  if (!FITS || typeof wire.downloadSpeed !== "function") return;
  const measured = wire.downloadSpeed.bind(wire);
  wire.downloadSpeed = () => Math.max(measured(), START_SPEED);
}
