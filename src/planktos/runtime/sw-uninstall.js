/* Planktos kill switch, build __PLANKTOS_BUILD__ (written by `planktos build --uninstall`).
 *
 * Browsers that had the Planktos service worker fetch this script on their next update check;
 * it deletes every Planktos cache, OPFS entry and IndexedDB database, unregisters itself and
 * reloads open pages, which then load as a plain site.
 */
const PLANKTOS_BUILD = "__PLANKTOS_BUILD__";

async function clearPlanktosData() {
  const names = await caches.keys();
  await Promise.all(names.filter((n) => n.startsWith("planktos")).map((n) => caches.delete(n)));
  try {
    const root = await navigator.storage.getDirectory();
    for await (const name of root.keys()) {
      if (name.startsWith("planktos")) await root.removeEntry(name, { recursive: true });
    }
  } catch (err) {
    // OPFS missing or empty: nothing to clear.
  }
  if (indexedDB.databases) {
    const dbs = await indexedDB.databases();
    for (const db of dbs) if (db.name && db.name.startsWith("planktos")) indexedDB.deleteDatabase(db.name);
  }
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    await clearPlanktosData();
    await self.registration.unregister();
    const pages = await self.clients.matchAll({ type: "window" });
    for (const page of pages) page.navigate(page.url);
  })());
});
