// The Range table of tests/test_httprange.py, run against the service worker's mirror.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  contentRange,
  ifMatchMatches,
  ifNoneMatchMatches,
  ifRangeMatches,
  parseEntityTags,
  parseRange,
  rangeDecision,
  unsatisfiedContentRange,
} from "../sw/range.js";

const R = (start, end) => ({ kind: "range", start, end });
const UNSAT = { kind: "unsatisfiable" };
const IGNORED = "ignored";
const MULTI = (count) => ({ kind: "multiple", count });

const TABLE = [
  // int-range: first-last, clipped at the end
  ["bytes=0-0", 10, R(0, 0)],
  ["bytes=0-9", 10, R(0, 9)],
  ["bytes=2-5", 10, R(2, 5)],
  ["bytes=9-9", 10, R(9, 9)],
  ["bytes=5-100", 10, R(5, 9)],
  ["bytes=0-99999999999999999999999999999999", 10, R(0, 9)],
  ["bytes=0-0", 1, R(0, 0)],
  ["bytes=16383-16384", 16384, R(16383, 16383)],
  ["bytes=16383-16384", 16385, R(16383, 16384)],
  // first- : to the end
  ["bytes=0-", 10, R(0, 9)],
  ["bytes=9-", 10, R(9, 9)],
  ["bytes=0-", 1, R(0, 0)],
  ["bytes=007-", 10, R(7, 9)],
  // suffix: the last n bytes, the whole when n >= length
  ["bytes=-1", 10, R(9, 9)],
  ["bytes=-10", 10, R(0, 9)],
  ["bytes=-11", 10, R(0, 9)],
  ["bytes=-1", 1, R(0, 0)],
  ["bytes=-999999999999999999999999999", 10, R(0, 9)],
  // unsatisfiable: 416
  ["bytes=10-", 10, UNSAT],
  ["bytes=10-20", 10, UNSAT],
  ["bytes=99999999999999999999999-", 10, UNSAT],
  ["bytes=-0", 10, UNSAT],
  ["bytes=0-", 0, UNSAT],
  ["bytes=0-0", 0, UNSAT],
  ["bytes=10-,20-", 10, UNSAT],
  // a suffix of an empty representation is satisfiable yet selects nothing: 200
  ["bytes=-1", 0, IGNORED],
  // several ranges: 200 with everything
  ["bytes=0-1,5-6", 10, MULTI(2)],
  ["bytes=0-1,50-60", 10, MULTI(2)],
  ["bytes=0-0,-1,3-", 10, MULTI(3)],
  // list syntax: OWS and empty elements (§5.6.1), case-insensitive unit (§14.1)
  ["bytes=0-1, ", 10, R(0, 1)],
  ["bytes=, 0-1", 10, R(0, 1)],
  ["bytes=0-1 ,\t5-6", 10, MULTI(2)],
  ["Bytes=0-1", 10, R(0, 1)],
  ["BYTES=-2", 10, R(8, 9)],
  // invalid: ignored, 200
  ["bytes=5-2", 10, IGNORED],
  ["bytes=0-1,5-2", 10, IGNORED],
  ["items=0-1", 10, IGNORED],
  ["bytes 0-1", 10, IGNORED],
  ["bytes=", 10, IGNORED],
  ["bytes=,", 10, IGNORED],
  ["bytes=-", 10, IGNORED],
  ["bytes=--1", 10, IGNORED],
  ["bytes=1", 10, IGNORED],
  ["bytes=a-b", 10, IGNORED],
  ["bytes=+1-2", 10, IGNORED],
  ["bytes=1 - 2", 10, IGNORED],
  ["bytes =0-1", 10, IGNORED],
  ["bytes=0x1-2", 10, IGNORED],
  ["bytes=\u0661-\u0662", 10, IGNORED], // Arabic-Indic digits are not DIGIT
  ["bytes=1_0-2_0", 10, IGNORED],
  ["", 10, IGNORED],
];

for (const [value, length, expected] of TABLE) {
  test(`parseRange(${JSON.stringify(value)}, ${length})`, () => {
    const decision = parseRange(value, length);
    if (expected === IGNORED) assert.equal(decision.kind, "ignored");
    else assert.deepEqual(decision, expected);
  });
}

test("an ignored range says why", () => {
  assert.deepEqual(parseRange("bytes=5-2", 10), {
    kind: "ignored",
    reason: "last position before first in '5-2'",
  });
  assert.deepEqual(parseRange("items=0-1", 10), { kind: "ignored", reason: "unknown range unit 'items'" });
});

test("Content-Range values", () => {
  assert.equal(contentRange(R(0, 0), 1), "bytes 0-0/1");
  assert.equal(contentRange(R(0, 16383), 16384), "bytes 0-16383/16384");
  assert.equal(contentRange(R(16384, 16384), 16385), "bytes 16384-16384/16385");
  assert.equal(unsatisfiedContentRange(0), "bytes */0");
  assert.equal(unsatisfiedContentRange(16385), "bytes */16385");
});

const T = (opaque, weak = false) => ({ weak, opaque });
for (const [value, expected] of [
  ['"a"', [T('"a"')]],
  ['W/"a"', [T('"a"', true)]],
  ['"a", W/"b" ,"c"', [T('"a"'), T('"b"', true), T('"c"')]],
  [' , "a",, ', [T('"a"')]],
  ['""', [T('""')]],
  ["", []],
  ["a", null],
  ['"a', null],
  ['"a" "b"', null],
  ['w/"a"', null],
  ['"a b"', null],
  ['"a"b', null],
]) {
  test(`parseEntityTags(${JSON.stringify(value)})`, () => assert.deepEqual(parseEntityTags(value), expected));
}

const ETAG = '"4000-17a"';
for (const [value, noneMatch, match] of [
  [ETAG, true, true],
  [`W/${ETAG}`, true, false], // weak comparison for If-None-Match only
  [`"x", ${ETAG}`, true, true],
  ['"x", "y"', false, false],
  ["*", true, true],
  [" * ", true, true],
  ['"4000-17b"', false, false],
  ["garbage", false, false],
  [`${ETAG}, garbage`, false, false],
]) {
  test(`If-None-Match / If-Match ${JSON.stringify(value)}`, () => {
    assert.equal(ifNoneMatchMatches(value, ETAG), noneMatch);
    assert.equal(ifMatchMatches(value, ETAG), match);
  });
}

// The entity-tag rows of test_if_range; we send no Last-Modified, so dates never match.
for (const [value, expected] of [
  [ETAG, true],
  [` ${ETAG} `, true],
  [`W/${ETAG}`, false], // weak entity-tags never match
  ['"4000-17b"', false],
  [`${ETAG}, ${ETAG}`, false],
  ["Sun, 06 Nov 1994 08:49:37 GMT", false],
  ["garbage", false],
  ["", false],
]) {
  test(`If-Range ${JSON.stringify(value)}`, () => assert.equal(ifRangeMatches(value, ETAG), expected));
}

test("rangeDecision: If-Range gates Range, several ranges give the whole file", () => {
  const h = (o) => new Headers(o);
  assert.equal(rangeDecision(h({}), 10, ETAG).kind, "ignored");
  assert.deepEqual(rangeDecision(h({ Range: "bytes=2-3" }), 10, ETAG), R(2, 3));
  assert.deepEqual(rangeDecision(h({ Range: "bytes=2-3", "If-Range": ETAG }), 10, ETAG), R(2, 3));
  assert.equal(rangeDecision(h({ Range: "bytes=2-3", "If-Range": '"other"' }), 10, ETAG).kind, "ignored");
  assert.equal(rangeDecision(h({ Range: "bytes=0-1,5-6" }), 10, ETAG).kind, "ignored");
  assert.deepEqual(rangeDecision(h({ Range: "bytes=10-" }), 10, ETAG), UNSAT);
  // A repeated field reaches us joined with ", ": not a valid range set, so ignored as well.
  const twice = new Headers();
  twice.append("Range", "bytes=0-1");
  twice.append("Range", "bytes=2-3");
  assert.equal(rangeDecision(twice, 10, ETAG).kind, "ignored");
});
