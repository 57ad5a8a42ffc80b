import assert from "node:assert/strict";
import { test } from "node:test";
import { readProblem } from "../agent/read.js";

const ok = { type: "read", id: 1, infohash: "a".repeat(40), torrent: "planktos/t/x.torrent", index: 0, start: 0, end: 9 };

test("a well-formed read has no problem", () => {
  assert.equal(readProblem(ok), null);
  assert.equal(readProblem({ ...ok, start: 5, end: 5 }), null);
});

test("malformed reads are refused with a reason", () => {
  assert.equal(readProblem({ ...ok, infohash: "A".repeat(40) }), "bad infohash");
  assert.equal(readProblem({ ...ok, torrent: "" }), "bad torrent");
  assert.equal(readProblem({ ...ok, index: -1 }), "bad index");
  assert.equal(readProblem({ ...ok, index: 1.5 }), "bad index");
  assert.equal(readProblem({ ...ok, start: 10, end: 9 }), "bad range");
  assert.equal(readProblem({ ...ok, end: "9" }), "bad range");
  assert.equal(readProblem(null), "bad infohash");
});
