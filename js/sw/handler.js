// The answer to one request for a manifest file: conditionals, Range, then the bytes (small
// files whole and checked; large files streamed piece by piece as they verify).

import { PEERS_ONLY } from "./file.js";
import { PieceFeed } from "./large.js";
import { ifMatchMatches, ifNoneMatchMatches, rangeDecision } from "./range.js";
import { etagOf, fileResponse, notModified, preconditionFailed, unsatisfiable } from "./respond.js";
import { piecesCovering } from "./pieces.js";
import { smallFile } from "./small.js";

/**
 * The Response for `request` (a GET) for `file` (see file.js). `ctx.done()` is called once
 * nothing more will be read for it (at once, or when a streamed body ends).
 */
export async function respondFile(ctx, request, file) {
  const { entry } = file;
  const etag = etagOf(entry);
  const h = request.headers;
  const ifMatch = h.get("if-match");
  if (ifMatch !== null && !ifMatchMatches(ifMatch, etag)) return finished(ctx, preconditionFailed());
  const ifNoneMatch = h.get("if-none-match");
  if (ifNoneMatch !== null && ifNoneMatchMatches(ifNoneMatch, etag)) return finished(ctx, notModified(entry));
  const decision = rangeDecision(h, entry.length, etag);
  if (decision.kind === "unsatisfiable") return finished(ctx, unsatisfiable(entry));
  const range = decision.kind === "range" ? { start: decision.start, end: decision.end } : null;
  if (file.large) return streamed(ctx, file, range);
  const { bytes, source } = await smallFile(ctx, file);
  ctx.onBytes?.(bytes);
  const body = range ? bytes.slice(range.start, range.end + 1) : bytes;
  ctx.counters.served += body.byteLength;
  return finished(ctx, fileResponse(entry, body, range, source));
}

function finished(ctx, response) {
  ctx.done();
  return response;
}

/** A large file's bytes start..end as a stream; the first piece is in hand before we answer. */
async function streamed(ctx, file, range) {
  const { entry, shard } = file;
  const start = range?.start ?? 0;
  const end = range?.end ?? entry.length - 1;
  const pl = shard.piece_length;
  const { first, last } = piecesCovering(start, end, pl);
  // A prefetch of what the store holds already: nothing to read (index.js answers 204). Read
  // and checked anyway, a returning visitor's stored video prefix kept the worker busy while
  // the next page loaded (quiet benchmark, repeat visits).
  let stored = null;
  if (ctx.peersOnly === "file") {
    stored = await ctx.store.pieceIndexes(shard.infohash);
    let i = first;
    while (i <= last && stored.has(i)) i++;
    if (i > last) throw PEERS_ONLY;
  }
  const feed = new PieceFeed(ctx, file, first, last);
  feed.stored = stored; // listed once: the feed lists them itself when null
  let head;
  try {
    head = await feed.next();
  } catch (err) {
    feed.cancel();
    throw err;
  }
  let index = first;
  const cut = (piece) => {
    const at = index * pl;
    return piece.subarray(Math.max(start, at) - at, Math.min(end + 1, at + piece.byteLength) - at);
  };
  let stopped = false;
  const stop = () => {
    stopped = true;
    feed.cancel();
    ctx.done();
  };
  const body = new ReadableStream(
    {
      async pull(controller) {
        try {
          const piece = head ?? (await feed.next());
          head = null;
          if (stopped) return; // cancelled while this piece was on its way
          const chunk = cut(piece.bytes);
          index += 1;
          ctx.counters.served += chunk.byteLength;
          controller.enqueue(chunk);
          if (index > last) {
            controller.close();
            stop();
          }
        } catch (err) {
          if (stopped) return;
          ctx.counters.requests.failed += 1;
          controller.error(err);
          stop();
        }
      },
      cancel: stop,
    },
    { highWaterMark: 0 },
  );
  return fileResponse(entry, body, range, head.source);
}
