// Where the agent finds things, relative to the site's base (the directory above planktos/).
// Pure: importable in Node.

/** The site base for a script at `<base>planktos/<name>.js`. */
export const baseOf = (scriptUrl) => new URL("..", scriptUrl).href;

/**
 * Manifest tracker references as WebSocket URLs: `ws(s)://` as given, anything else (a path
 * relative to the base, or an absolute path) resolved against the base on the site's scheme
 * (http → ws, https → wss). Unusable entries are dropped; duplicates once.
 */
export function trackerUrls(trackers, base) {
  const out = new Set();
  for (const ref of Array.isArray(trackers) ? trackers : []) {
    let url;
    try {
      url = new URL(String(ref), base);
    } catch {
      continue;
    }
    if (url.protocol === "http:") url.protocol = "ws:";
    else if (url.protocol === "https:") url.protocol = "wss:";
    if (url.protocol === "ws:" || url.protocol === "wss:") out.add(url.href);
  }
  return [...out];
}

/** The absolute URL of a shard's .torrent. */
export const torrentUrl = (torrent, base) => new URL(torrent, base).href;

/**
 * The manifest's `torrent` of a shard, from its infohash alone: where `planktos build` puts it
 * (src/planktos/manifest.py, `torrent_path`).
 */
export const torrentRefOf = (infohash) => `planktos/t/${infohash}.torrent`;

/** The manifest's URL for a base. */
export const manifestUrl = (base) => new URL("planktos/manifest.json", base).href;
