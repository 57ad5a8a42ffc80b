// What the visitor may need next (DESIGN.md, "A controlled request", step 5): the pages this
// page links to and the files those pages load, fetched through the service worker with the
// PREFETCH header, which the worker answers from the store or from peers only (204 or 504
// otherwise, never from the origin). A visitor who reads a page a few seconds before following
// a link then finds the next page's files in the store: peer latency turned into speed, and
// origin bytes saved. Within `runtime.prefetch_bytes` per page; not under Save-Data or on a
// metered connection; only on a page the worker controls (else the requests would reach the
// origin).

import { isMetered } from "./policy.js";
import { PREFETCH } from "../sw/routing.js";

/** Linked pages looked at, in document order. */
export const MAX_PAGES = 8;
/** Of each file, at most this many first bytes: all of a small file, the start of a video. */
export const PREFIX_BYTES = 2 << 20;
/** Requests in flight at once. */
const PARALLEL = 2;

/**
 * The URLs among `refs` (attribute values, relative to `here`) worth prefetching: same origin
 * as `base` and under it, not the runtime's own files, no query, fragment dropped, not
 * `skip`ped, each once, in order. Pure.
 */
export function candidates(refs, here, base, skip = new Set()) {
  const root = new URL(base);
  const out = [];
  const seen = new Set(skip);
  for (const ref of refs) {
    let url;
    try {
      url = new URL(ref, here);
    } catch {
      continue;
    }
    url.hash = "";
    if (url.origin !== root.origin || url.search || !url.pathname.startsWith(root.pathname)) continue;
    const rel = url.pathname.slice(root.pathname.length);
    if (rel === "planktos.sw.js" || rel.startsWith("planktos/")) continue;
    if (seen.has(url.href)) continue;
    seen.add(url.href);
    out.push(url.href);
  }
  return out;
}

/** Link targets of a document: `<a href>`. */
const linksOf = (doc) => [...doc.querySelectorAll("a[href]")].map((a) => a.getAttribute("href"));

/** The files a document loads: images, media and their posters, style sheets, scripts, icons. */
function filesOf(doc) {
  const refs = [];
  const add = (selector, attr) => {
    for (const el of doc.querySelectorAll(selector)) refs.push(el.getAttribute(attr));
  };
  add("img[src], video[src], audio[src], source[src], track[src], script[src]", "src");
  add("video[poster]", "poster");
  add('link[href][rel~="stylesheet"], link[href][rel~="icon"], link[href][rel~="preload"]', "href");
  return refs;
}

/**
 * Prefetch what the pages `doc` links to need, within `budget` bytes; stops when `signal`
 * aborts. Resolves to the bytes fetched.
 */
export async function prefetchLinked(doc, base, budget, signal) {
  if (!(budget > 0) || isMetered(navigator.connection) || !navigator.serviceWorker?.controller) return 0;
  let left = budget;
  const here = doc.baseURI;
  const loaded = new Set([here, ...candidates(filesOf(doc), here, base)]);
  const get = async (url, kind) => {
    if (left <= 0 || signal.aborted) return null;
    const headers = { [PREFETCH]: kind, Range: `bytes=0-${Math.min(left, PREFIX_BYTES) - 1}` };
    try {
      const response = await fetch(url, { headers, signal, credentials: "same-origin" });
      if (response.status !== 200 && response.status !== 206) {
        response.body?.cancel().catch(() => {});
        return null;
      }
      const bytes = await response.arrayBuffer();
      left -= bytes.byteLength;
      return { response, bytes };
    } catch {
      return null;
    }
  };
  const pages = candidates(linksOf(doc), here, base, loaded).slice(0, MAX_PAGES);
  // The pages first, PARALLEL at a time (each may wait for peers to join), then their files
  // in the pages' order.
  const html = await inParallel(pages, async (page) => {
    const got = await get(page, "page");
    return got && /html/.test(got.response.headers.get("content-type") ?? "") ? got.bytes : null;
  });
  const files = [];
  html.forEach((bytes, i) => {
    if (!bytes) return;
    const next = new DOMParser().parseFromString(new TextDecoder().decode(bytes), "text/html");
    files.push(...candidates(filesOf(next), pages[i], base, new Set([...loaded, ...pages, ...files])));
  });
  await inParallel(files, (file) => get(file, "file"));
  return budget - left;
}

/** `fn` over `items`, PARALLEL at a time; the results in order. */
async function inParallel(items, fn) {
  const out = new Array(items.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  return out;
}

/**
 * Start prefetching for this page once it has loaded, the worker controls it (on a first
 * visit it takes control after `load`) and the visitor stayed READING_MS; stops when the
 * page hides. The worker waits for peers
 * per file (up to the deadline), joining the swarms it needs: no need to wait for one here.
 */
export function prefetchSoon(base, runtime, counters) {
  const budget = Number(runtime.prefetch_bytes);
  if (!(budget > 0)) return;
  const controller = new AbortController();
  const stop = () => controller.abort();
  addEventListener("pagehide", stop, { once: true });
  const start = async () => {
    const sw = navigator.serviceWorker;
    if (!sw.controller) {
      await new Promise((resolve) => {
        sw.addEventListener("controllerchange", resolve, { once: true });
        setTimeout(resolve, CONTROL_WAIT_MS);
      });
    }
    // A new build's worker activates only once the current one has no request in hand:
    // prefetching on (each request may wait for peers) would keep the update waiting.
    const registration = await sw.getRegistration().catch(() => null);
    if (registration?.installing || registration?.waiting) return;
    registration?.addEventListener("updatefound", stop);
    sw.addEventListener("controllerchange", stop);
    // A visitor who leaves at once would get nothing from it, and its next page would share
    // the CPU with it.
    await sleep(READING_MS);
    counters.prefetched += await prefetchLinked(document, base, budget, controller.signal);
    counters.prefetchPasses += 1;
  };
  if (document.readyState === "complete") start();
  else addEventListener("load", start, { once: true });
}

const CONTROL_WAIT_MS = 10_000;
/**
 * How long a visitor stays on a page before its links are prefetched. 1000 ms left a visitor
 * who reads a landing page for 2 s about 0.4 s of peers (its agent connects when the first
 * prefetch joins a swarm, ~0.5 s later): crowd benchmark at dwell 2, same hour, 300 ms took
 * origin bytes from 0.28x to 0.22x plain and the gallery from 0.24x to 0.08x.
 */
const READING_MS = 300;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
