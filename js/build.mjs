// Bundles the browser runtime into src/planktos/runtime/dist/ (see docs/runtime.md):
//   js/sw/index.js    -> planktos.sw.js  IIFE, minified, at most SW_LIMIT bytes, no WebTorrent
//   js/install.js     -> install.js      IIFE, minified
//   js/agent/index.js -> agent.js        ESM, minified, WebTorrent inside
// Run from `make runtime` and from the wheel build hook (hatch_build.py). Exits non-zero on
// any failure, including a service worker over its size budget. Arguments, if any, name the
// bundles to build (e.g. `node js/build.mjs agent.js`); the others in dist/ are left alone.
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const DIST = join(ROOT, "src/planktos/runtime/dist");
// 34 KB: manifest version 2 (js/sw/tables.js: tables fetched, checked and kept on demand) took
// 3.3 KB; the target that matters, ≤ 12 KB gzipped (DESIGN.md), still holds (12,235 bytes).
const SW_LIMIT = 34 * 1024;

const common = {
  bundle: true,
  minify: true,
  platform: "browser",
  target: ["chrome110", "firefox115", "safari16"],
  legalComments: "none",
  logLevel: "warning",
  absWorkingDir: ROOT,
};

const bundles = [
  {
    entry: "js/sw/index.js",
    out: "planktos.sw.js",
    format: "iife",
    limit: SW_LIMIT,
    // `planktos build` puts the build id here too, so the file names its build at the top.
    banner: { js: "/*PLANKTOS_BUILD=__PLANKTOS_BUILD__*/" },
  },
  { entry: "js/install.js", out: "install.js", format: "iife" },
  {
    entry: "js/agent/index.js",
    out: "agent.js",
    format: "esm",
    // WebTorrent's browser build needs these Node shims (FACTS.md): `path`, a global object and
    // a `process` with nextTick; its package.json "browser" field stubs the rest.
    alias: { path: "path-browserify" },
    define: { global: "globalThis" },
    inject: ["js/agent/process-shim.js"],
    // The agent never logs (any console message fails our browser tests, and visitors should
    // not see Planktos); WebTorrent's dependencies warn on expected events (an mDNS ICE
    // candidate they cannot use, a deprecated call), so console calls are dropped here.
    drop: ["console"],
  },
];

function fail(message) {
  console.error(`js/build.mjs: ${message}`);
  process.exit(1);
}

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (!bundles.some((b) => b.out === name)) fail(`unknown bundle ${name}`);
}
const selected = wanted.length ? bundles.filter((b) => wanted.includes(b.out)) : bundles;

for (const b of selected) {
  if (!existsSync(join(ROOT, b.entry))) {
    fail(`${b.entry} does not exist yet; it is the entry point of ${b.out}`);
  }
}

// Build into a fresh directory, check sizes, then rename each file into dist/: a failed build
// leaves the previous bundles in place.
const tmp = `${DIST}.tmp-${process.pid}`;
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
try {
  for (const { entry, out, limit, ...opts } of selected) {
    await esbuild.build({ ...common, ...opts, entryPoints: [entry], outfile: join(tmp, out) });
  }
} catch (err) {
  rmSync(tmp, { recursive: true, force: true });
  fail(`esbuild failed: ${err.message.split("\n")[0]}`);
}

let over = false;
for (const { out, limit } of selected) {
  const size = statSync(join(tmp, out)).size;
  const budget = limit ? ` (limit ${limit})` : "";
  console.log(`  ${out.padEnd(16)} ${String(size).padStart(8)} bytes${budget}`);
  if (limit && size > limit) over = true;
}
if (over) {
  rmSync(tmp, { recursive: true, force: true });
  fail(`a bundle is over its size limit; dist/ left unchanged`);
}
mkdirSync(DIST, { recursive: true });
for (const { out } of selected) renameSync(join(tmp, out), join(DIST, out));
rmSync(tmp, { recursive: true, force: true });
console.log(`runtime bundles written to ${DIST}`);
