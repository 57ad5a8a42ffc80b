// The part of Node's `process` that WebTorrent's dependencies touch in a browser: nextTick,
// env and a few identity fields. Injected by js/build.mjs into the agent bundle only.
export const process = {
  browser: true,
  env: {},
  argv: [],
  version: "",
  versions: {},
  nextTick: (fn, ...args) => queueMicrotask(() => fn(...args)),
  cwd: () => "/",
};
