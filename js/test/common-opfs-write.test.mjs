import assert from "node:assert/strict";
import { test } from "node:test";

import { writeWhole } from "../common/opfs-write.js";
import { FakeRoot } from "./sw-fake-opfs.mjs";

test("a write refused for quota leaves no empty entry behind", async () => {
  const fs = new FakeRoot(10);
  await assert.rejects(writeWhole(fs.root, "7", new Uint8Array(11)), { name: "QuotaExceededError" });
  await assert.rejects(fs.root.getFileHandle("7"), { name: "NotFoundError" });
});

test("a failed overwrite keeps the entry that was there", async () => {
  const fs = new FakeRoot(10);
  await writeWhole(fs.root, "7", new Uint8Array([1, 2, 3]));
  await assert.rejects(writeWhole(fs.root, "7", new Uint8Array(11)), { name: "QuotaExceededError" });
  const file = await (await fs.root.getFileHandle("7")).getFile();
  assert.deepEqual(new Uint8Array(await file.arrayBuffer()), new Uint8Array([1, 2, 3]));
});

test("a write that fits is whole", async () => {
  const fs = new FakeRoot();
  await writeWhole(fs.root, "0", new Uint8Array([9, 8]));
  const file = await (await fs.root.getFileHandle("0")).getFile();
  assert.equal(file.size, 2);
});
