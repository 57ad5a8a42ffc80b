// Which requests the service worker answers. Pure: importable in Node.
//
// Only same-origin GETs without a query string, under the scope, for a path whose decoded
// form names a manifest key (`dir/` means `dir/index.html`). Planktos' own files (`planktos/…`,
// `planktos.sw.js`) and anything with a query (the agent's `?planktos-webseed` requests
// among them) go to the network untouched.

/** The header of the agent's prefetch requests (js/agent/prefetch.js): store or peers only. */
export const PREFETCH = "planktos-prefetch";

// The runtime scripts a page loads (scripts.js): install.js, and the agent under its
// content-hashed name (`planktos/agent.<16 hex>.js`, immutable; plain `agent.js` before).
const RUNTIME_SCRIPT = /^planktos\/(?:install|agent(?:\.[0-9a-f]{16})?)\.js$/;
/** Whether a runtime script's URL names its content, so that a kept copy never goes stale. */
export const isImmutableScript = (url) => /\/planktos\/agent\.[0-9a-f]{16}\.js$/.test(new URL(url).pathname);

/** Whether a request is for one of the runtime scripts (same origin, GET, no query). */
export function isRuntimeScript(method, url, scope) {
  if (method !== "GET") return false;
  const u = new URL(url);
  const s = new URL(scope);
  if (u.origin !== s.origin || u.href.includes("?") || !u.pathname.startsWith(s.pathname)) return false;
  return RUNTIME_SCRIPT.test(u.pathname.slice(s.pathname.length));
}

/**
 * The request's path relative to the scope, still percent-encoded, when the request could be
 * ours; null when it must pass through whatever the manifest says.
 */
export function scopedPath(method, url, scope) {
  if (method !== "GET") return null;
  const u = new URL(url);
  const s = new URL(scope);
  if (u.origin !== s.origin || u.search || u.href.includes("?")) return null;
  if (!u.pathname.startsWith(s.pathname)) return null;
  const rel = u.pathname.slice(s.pathname.length);
  const decoded = decodePath(rel);
  if (decoded === null) return null;
  if (decoded === "planktos.sw.js" || decoded === "planktos" || decoded.startsWith("planktos/")) return null;
  return rel;
}

/** Percent-decode a path segment by segment (UTF-8); null when malformed or a segment holds `/`. */
export function decodePath(raw) {
  const out = [];
  for (const segment of raw.split("/")) {
    let name;
    try {
      name = decodeURIComponent(segment);
    } catch {
      return null;
    }
    if (name.includes("/")) return null;
    out.push(name);
  }
  return out.join("/");
}

/**
 * The manifest key a scoped path names, or null when it can name none: the path decoded, then
 * percent-encoded the one way the build does (every UTF-8 byte outside `A-Za-z0-9-._~` and `/`
 * as `%XX`, upper case), so that any spelling of a path finds its key. `dir/` means
 * `dir/index.html`.
 */
export function manifestKey(rel) {
  let decoded = decodePath(rel);
  if (decoded === null) return null;
  if (decoded === "" || decoded.endsWith("/")) decoded += "index.html";
  try {
    return decoded.split("/").map(encodeSegment).join("/");
  } catch {
    return null; // a lone surrogate: no file has that name
  }
}

const encodeSegment = (s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
