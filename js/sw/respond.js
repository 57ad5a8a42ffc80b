// Responses in the shape `planktos serve` gives (src/planktos/server/static.py): 200, 206 with
// exact Content-Range, 304, 412, 416 with `bytes */N`; the ETag is the file's SHA-256.

import { contentRange, unsatisfiedContentRange } from "./range.js";

// A chunked (large) file has no whole-file SHA-256; its chunk list's digest names it as well.
export const etagOf = (entry) => `"${entry.sha256 ?? entry.chunks_sha256}"`;

function baseHeaders(entry) {
  return {
    "Accept-Ranges": "bytes",
    ETag: etagOf(entry),
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
  };
}

/** 200 with the whole file, or 206 for `range` ({start, end}); `source` goes in X-Planktos-Source. */
export function fileResponse(entry, body, range, source) {
  const headers = { ...baseHeaders(entry), "Content-Type": entry.type || "application/octet-stream" };
  headers["Content-Length"] = String(range ? range.end - range.start + 1 : entry.length);
  if (range) headers["Content-Range"] = contentRange(range, entry.length);
  headers["X-Planktos-Source"] = source;
  return new Response(body, { status: range ? 206 : 200, headers });
}

export function notModified(entry) {
  return new Response(null, { status: 304, headers: baseHeaders(entry) });
}

export function plain(status, text, extra = {}) {
  const body = `${status} ${text}\n`;
  return new Response(body, {
    status,
    headers: {
      ...extra,
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Length": String(body.length),
      "X-Content-Type-Options": "nosniff",
    },
  });
}

export const unsatisfiable = (entry) =>
  plain(416, "Requested Range Not Satisfiable", {
    "Accept-Ranges": "bytes",
    "Content-Range": unsatisfiedContentRange(entry.length),
  });

export const preconditionFailed = () => plain(412, "Precondition Failed");
