import assert from "node:assert/strict";
import { test } from "node:test";
import { isMetered, uploadPolicy } from "../agent/policy.js";

const runtime = { upload_kbps: null, upload_on_metered: false };

test("unknown or unmetered connections upload without limit", () => {
  assert.deepEqual(uploadPolicy(undefined, runtime), { upload: true, bytesPerSecond: -1 });
  assert.deepEqual(uploadPolicy({ type: "wifi", saveData: false }, runtime), { upload: true, bytesPerSecond: -1 });
  assert.deepEqual(uploadPolicy({ effectiveType: "4g" }, {}), { upload: true, bytesPerSecond: -1 });
});

test("Save-Data and cellular mean no upload, unless the site allows it", () => {
  assert.equal(isMetered({ saveData: true }), true);
  assert.equal(isMetered({ type: "cellular" }), true);
  assert.equal(isMetered({ type: "ethernet" }), false);
  assert.deepEqual(uploadPolicy({ saveData: true }, runtime), { upload: false, bytesPerSecond: -1 });
  assert.deepEqual(uploadPolicy({ type: "cellular" }, runtime), { upload: false, bytesPerSecond: -1 });
  assert.deepEqual(uploadPolicy({ type: "cellular" }, { ...runtime, upload_on_metered: true }), {
    upload: true,
    bytesPerSecond: -1,
  });
});

test("upload_kbps is kilobits per second, throttled in bytes per second", () => {
  assert.deepEqual(uploadPolicy({}, { upload_kbps: 800 }), { upload: true, bytesPerSecond: 100000 });
  assert.deepEqual(uploadPolicy({}, { upload_kbps: 1 }), { upload: true, bytesPerSecond: 125 });
  assert.deepEqual(uploadPolicy({}, { upload_kbps: 0 }), { upload: false, bytesPerSecond: -1 });
  assert.deepEqual(uploadPolicy({}, { upload_kbps: -5 }), { upload: true, bytesPerSecond: -1 });
  assert.deepEqual(uploadPolicy({ saveData: true }, { upload_kbps: 800, upload_on_metered: true }), {
    upload: true,
    bytesPerSecond: 100000,
  });
});
