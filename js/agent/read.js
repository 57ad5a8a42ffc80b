// Answers the service worker's `read` (docs/runtime.md, "SW ↔ agent"): a ReadableStream of
// exactly bytes [start, end] (inclusive) of file `index` of a torrent, fetched by WebTorrent
// from peers, only the pieces that cover them; and its `join`: add the torrent, so that its
// swarm's peers connect and report what they hold (haves.js); its `stored`: announce the
// pieces the worker wrote; and its `piece`: keep a piece the worker assembled, if it matches
// the torrent's SHA-1.

import { counters } from "./counters.js";
import { exactStream } from "./exact-stream.js";
import { unheldPiece } from "./guard.js";

const INFOHASH = /^[0-9a-f]{40}$/;
const isCount = (n) => Number.isSafeInteger(n) && n >= 0;

/** Why a read message is malformed, or null. */
export function readProblem(msg) {
  if (!INFOHASH.test(msg?.infohash ?? "")) return "bad infohash";
  if (typeof msg.torrent !== "string" || !msg.torrent) return "bad torrent";
  if (!isCount(msg.index)) return "bad index";
  if (!isCount(msg.start) || !isCount(msg.end) || msg.start > msg.end) return "bad range";
  return null;
}

/** The stream for a read message; rejects with an Error whose message is the reason. */
export async function read(torrents, msg) {
  const problem = readProblem(msg);
  if (problem) throw new Error(problem);
  const torrent = await torrents.get(msg.infohash, msg.torrent);
  const file = torrent.files[msg.index];
  if (!file) throw new Error("no such file in the torrent");
  if (msg.end >= file.length) throw new Error("range beyond the end of the file");
  const first = Math.floor((file.offset + msg.start) / torrent.pieceLength);
  const last = Math.floor((file.offset + msg.end) / torrent.pieceLength);
  await torrents.syncStored(torrent, first, last);
  // A piece nobody connected holds would never come: the worker asks the origin instead.
  const unheld = unheldPiece(torrent, first, last);
  if (unheld !== null) throw new Error(`no connected peer holds piece ${unheld}`);
  const abort = new AbortController();
  const done = torrents.readWith(torrent, first, last, (err) => abort.abort(err));
  // The file iterator selects just the pieces covering [start, end], and deselects them when
  // it is returned (end of stream, or the service worker cancelling it). Selecting the whole
  // file instead would fetch all of a video for one seek.
  const iterator = file[Symbol.asyncIterator]({ start: msg.start, end: msg.end });
  return exactStream(iterator, msg.end - msg.start + 1, done, abort.signal);
}

/** Handle one message from the service worker's port. */
export async function answer(torrents, port, msg) {
  if (msg?.type === "ping") {
    port.postMessage({ type: "pong", id: msg.id });
    return;
  }
  if (msg?.type === "join") {
    if (!readProblem({ ...msg, index: 0, start: 0, end: 0 })) torrents.get(msg.infohash, msg.torrent).catch(() => {});
    return;
  }
  if (msg?.type === "piece") {
    const ok = !readProblem({ ...msg, start: 0, end: 0 }) && msg.bytes instanceof Uint8Array;
    if (ok) torrents.keepPiece(msg).catch(() => {});
    return;
  }
  if (msg?.type === "stored") {
    if (INFOHASH.test(msg.infohash ?? "")) torrents.stored(msg.infohash).catch(() => {});
    return;
  }
  if (msg?.type !== "read") return;
  counters.reads += 1;
  let stream;
  try {
    stream = await read(torrents, msg);
  } catch (err) {
    counters.readErrors += 1;
    port.postMessage({ type: "error", id: msg.id, reason: String(err?.message ?? err) });
    return;
  }
  try {
    port.postMessage({ type: "stream", id: msg.id, stream }, [stream]);
  } catch {
    // No transferable streams in this browser: the service worker uses the origin.
    stream.cancel().catch(() => {});
    counters.readErrors += 1;
    port.postMessage({ type: "error", id: msg.id, reason: "streams are not transferable here" });
  }
}
