// Seeds what the store holds: the most recently used infohashes first, at most `max_seeded`.

import { lastUse, storedInfohashes } from "./opfs.js";

export async function seedStored(torrents, max) {
  const used = await lastUse();
  const infohashes = (await storedInfohashes()).sort((a, b) => (used[b] ?? 0) - (used[a] ?? 0));
  for (const ih of infohashes.slice(0, Math.max(0, max))) {
    // One at a time: each adds a store check and a tracker announce; the page stays smooth.
    await torrents.get(ih).catch(() => {});
  }
}
