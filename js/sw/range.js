// Range requests and validators, a mirror of src/planktos/httprange.py (RFC 9110 §13, §14).
// Pure: no I/O, importable in Node. Keep the two in step; js/test/sw-range.test.mjs runs the
// same table as tests/test_httprange.py.

const SPEC = /^(?:([0-9]+)-([0-9]*)|-([0-9]+))$/;
const HUGE = 2 ** 66; // beyond any length: stands for "more than 20 digits"
const ETAG = /^(W\/)?"([\x21\x23-\x7e\x80-\u{10ffff}]*)"/u;

const stripOWS = (s) => s.replace(/^[ \t]+|[ \t]+$/g, "");

/** A byte position or suffix length; anything over 20 digits is beyond every length. */
function position(digits) {
  const d = digits.replace(/^0+/, "") || "0";
  return d.length > 20 ? HUGE : Number(d);
}

/**
 * How to answer `Range: value` for `length` bytes. One of
 * {kind: "range", start, end} (inclusive, clipped: 206), {kind: "ignored", reason} (200),
 * {kind: "unsatisfiable"} (416), {kind: "multiple", count} (200 with the whole body).
 */
export function parseRange(value, length) {
  const v = stripOWS(value);
  const eq = v.indexOf("=");
  if (eq < 0) return ignored("no '=' after the range unit");
  const unit = v.slice(0, eq);
  if (unit.toLowerCase() !== "bytes") return ignored(`unknown range unit '${unit}'`);
  const specs = []; // [first, last|null] or a suffix length
  for (const raw of v.slice(eq + 1).split(",")) {
    const element = stripOWS(raw);
    if (!element) continue;
    const m = SPEC.exec(element);
    if (!m) return ignored(`malformed range '${element}'`);
    if (m[3] !== undefined) {
      specs.push(position(m[3]));
      continue;
    }
    const first = position(m[1]);
    const last = m[2] ? position(m[2]) : null;
    if (last !== null && last < first) return ignored(`last position before first in '${element}'`);
    specs.push([first, last]);
  }
  if (!specs.length) return ignored("no range in the range set");
  if (!specs.some((s) => (typeof s === "number" ? s > 0 : s[0] < length))) {
    return { kind: "unsatisfiable" };
  }
  if (specs.length > 1) return { kind: "multiple", count: specs.length };
  const spec = specs[0];
  if (typeof spec === "number") {
    if (length === 0) return ignored("suffix range of an empty representation");
    return { kind: "range", start: Math.max(0, length - spec), end: length - 1 };
  }
  const [first, last] = spec;
  return { kind: "range", start: first, end: last === null ? length - 1 : Math.min(last, length - 1) };
}

function ignored(reason) {
  return { kind: "ignored", reason };
}

/** `Content-Range` of a 206 (RFC 9110 §14.4), e.g. `bytes 0-0/5`. */
export const contentRange = (r, length) => `bytes ${r.start}-${r.end}/${length}`;

// `Content-Range` of a 416, e.g. `bytes */5`.
export const unsatisfiedContentRange = (length) => `bytes */${length}`;

/** The entity-tags of an If-Match/If-None-Match list as [{weak, opaque}]; null when malformed. */
export function parseEntityTags(value) {
  const tags = [];
  let rest = value;
  for (;;) {
    rest = rest.replace(/^[ \t,]+/, "");
    if (!rest) return tags;
    const m = ETAG.exec(rest);
    if (!m) return null;
    tags.push({ weak: m[1] !== undefined, opaque: `"${m[2]}"` });
    rest = rest.slice(m[0].length).replace(/^[ \t]+/, "");
    if (rest && rest[0] !== ",") return null;
  }
}

/** If-None-Match against our strong etag: weak comparison, `*` matches (§13.1.2). */
export function ifNoneMatchMatches(value, etag) {
  if (stripOWS(value) === "*") return true;
  const tags = parseEntityTags(value);
  return tags !== null && tags.some((t) => t.opaque === etag);
}

/** If-Match against our strong etag: strong comparison, `*` matches (§13.1.1). */
export function ifMatchMatches(value, etag) {
  if (stripOWS(value) === "*") return true;
  const tags = parseEntityTags(value);
  return tags !== null && tags.some((t) => !t.weak && t.opaque === etag);
}

/**
 * Whether `If-Range: value` lets Range apply (§13.1.5): only our strong etag, exactly. We send
 * no Last-Modified, so an HTTP-date never matches and the whole representation is sent.
 */
export function ifRangeMatches(value, etag) {
  const v = stripOWS(value);
  if (!v.startsWith("W/") && !v.startsWith('"')) return false;
  const m = ETAG.exec(v);
  return m !== null && m[0].length === v.length && m[1] === undefined && v === etag;
}

/**
 * The whole decision for a GET with these headers (a Headers-like `get(name)`), as the
 * server's `_range_decision`: no Range → ignored; If-Range not matching → ignored;
 * several ranges → ignored (whole file, 200).
 */
export function rangeDecision(headers, length, etag) {
  const range = headers.get("range");
  if (range === null) return ignored("no Range on a GET");
  const ifRange = headers.get("if-range");
  if (ifRange !== null && !ifRangeMatches(ifRange, etag)) return ignored("If-Range does not match");
  const d = parseRange(range, length);
  return d.kind === "multiple" ? ignored(`${d.count} ranges: whole file sent`) : d;
}
