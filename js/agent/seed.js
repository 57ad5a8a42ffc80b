// Seeds what the store holds: the most recently used infohashes first, at most `max_seeded`.
// Only once the page has loaded and the browser is idle: browsing in one tab, every page runs
// its own agent, and adding the stored torrents (a store check and an announce with offers
// each) while the page's own reads wait for their torrents delayed those reads (a video's
// torrent was ready ≈ 190 ms later next to three stored ones than alone).

import { lastUse, storedInfohashes } from "./opfs.js";

export async function seedStored(torrents, max) {
  await loadedAndIdle();
  const used = await lastUse();
  const infohashes = (await storedInfohashes()).sort((a, b) => (used[b] ?? 0) - (used[a] ?? 0));
  for (const ih of infohashes.slice(0, Math.max(0, max))) {
    // One at a time: each adds a store check and a tracker announce; the page stays smooth.
    await torrents.get(ih).catch(() => {});
  }
}

/** Resolves after the page's `load` event, when the browser is idle (at most 2 s later). */
function loadedAndIdle() {
  return new Promise((resolve) => {
    const idle = () =>
      typeof requestIdleCallback === "function" ? requestIdleCallback(() => resolve(), { timeout: 2000 }) : setTimeout(resolve, 50);
    if (document.readyState === "complete") idle();
    else addEventListener("load", idle, { once: true });
  });
}
