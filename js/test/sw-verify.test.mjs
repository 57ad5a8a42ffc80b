import assert from "node:assert/strict";
import { test } from "node:test";
import { matchesSha256, sha256Hex } from "../sw/verify.js";

const EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

test("sha256Hex", async () => {
  assert.equal(await sha256Hex(new Uint8Array()), EMPTY);
  assert.equal(
    await sha256Hex(new TextEncoder().encode("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

test("matchesSha256 accepts upper-case hex and rejects anything else", async () => {
  assert.ok(await matchesSha256(new Uint8Array(), EMPTY.toUpperCase()));
  assert.ok(!(await matchesSha256(new Uint8Array([0]), EMPTY)));
  assert.ok(!(await matchesSha256(new Uint8Array(), undefined)));
});
