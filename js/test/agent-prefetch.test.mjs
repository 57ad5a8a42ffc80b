// Which URLs the agent's prefetch asks the worker for (js/agent/prefetch.js).
import assert from "node:assert/strict";
import { test } from "node:test";
import { candidates } from "../agent/prefetch.js";

const BASE = "http://127.0.0.1:8080/docs/";
const HERE = "http://127.0.0.1:8080/docs/guide/index.html";

test("links under the base, resolved against the page, each once, in order", () => {
  const refs = ["next.html", "../api.html#section", "/docs/api.html", "./next.html", "../"];
  assert.deepEqual(candidates(refs, HERE, BASE), [
    "http://127.0.0.1:8080/docs/guide/next.html",
    "http://127.0.0.1:8080/docs/api.html",
    "http://127.0.0.1:8080/docs/",
  ]);
});

test("never another origin, a path outside the base, a query, or the runtime's own files", () => {
  const refs = [
    "https://127.0.0.1:8080/docs/a.html", // another scheme: another origin
    "http://127.0.0.2:8080/docs/a.html",
    "/elsewhere.html",
    "search.html?q=x",
    "../planktos/manifest.json",
    "/docs/planktos/stats",
    "/docs/planktos.sw.js",
    "mailto:someone@example.com",
    "javascript:void(0)",
    "http://[::1",
  ];
  assert.deepEqual(candidates(refs, HERE, BASE), []);
});

test("what the page loaded already is skipped", () => {
  const skip = new Set(["http://127.0.0.1:8080/docs/style.css"]);
  assert.deepEqual(candidates(["../style.css", "../app.js"], HERE, BASE, skip), ["http://127.0.0.1:8080/docs/app.js"]);
});
