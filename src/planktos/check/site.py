"""``planktos check URL``: a deployed Planktos site checked from outside, as browsers see it.

Areas, in report order: HTTPS, the manifest (and the base URL it was built for), the service
worker, install.js, the agent, the manifest's tables, torrents, web seeds (Range), the
tracker, the stats endpoint, pages (the install tag). Each area gives one ``ok`` line or a
line per problem with its fix. Samples keep a large site's check short: a few leaves of the
file tree, a few shards, a few pages.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote, urljoin

from planktos.bencode import decode, encode
from planktos.check.findings import Finding, Report, error, ok, warning
from planktos.check.judge import (
    RangeAnswer,
    base_path,
    base_problems,
    check_site_url,
    compression_problems,
    immutable_problems,
    install_sources,
    is_local,
    range_problems,
    revalidated_problems,
    script_type_problems,
    tracker_url,
)
from planktos.check.probe import COMPRESSED, Got, Prober
from planktos.errors import BencodeError, InputError
from planktos.manifest import FORMAT, VERSION, check_runtime
from planktos.tables import is_leaf, read_table

MANIFEST = "planktos/manifest.json"
WORKER = "planktos.sw.js"
INSTALL = "planktos/install.js"
STATS = "planktos/stats"
DASHBOARD = "planktos/dashboard"
MAX_LEAVES = 3
MAX_SHARDS = 4
MAX_TRACKERS = 3
MAX_SCRAPE = 100  # the tracker's own limit per scrape
_BUILD_MARK = re.compile(r"/\*PLANKTOS_BUILD=([0-9a-f]{16})\*/")
_AGENT = re.compile(r"agent\.[0-9a-f]{16}\.js")
_HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(slots=True)
class Site:
    """What the manifest told us, gathered as the checks go."""

    url: str
    top: dict[str, Any]
    files: dict[str, Any] = field(default_factory=dict)  # key → entry, from sampled leaves
    shards: dict[str, Any] = field(default_factory=dict)
    info_hashes: list[str] = field(default_factory=list)  # every shard's, from the refs table

    def at(self, rel: str) -> str:
        return urljoin(self.url, rel)


async def check_site(url: str, *, pages: int = 10, timeout_s: float = 10.0) -> Report:
    """Check the Planktos site at ``url``; :class:`InputError` for a URL that is not one."""
    site_url = check_site_url(url)
    report = Report(site_url)
    async with Prober(timeout_s) as prober:
        await _check(prober, site_url, report, pages)
    report.collapse()
    return report


async def _check(p: Prober, url: str, report: Report, pages: int) -> None:
    if url.startswith("http://") and not is_local(url):
        report.findings.append(
            error(
                "https",
                url,
                "plain HTTP: browsers run service workers only on HTTPS (and localhost)",
                "serve the site over HTTPS",
            )
        )
    manifest_url = urljoin(url, MANIFEST)
    got = await p.get(manifest_url)
    if got.status == 0:
        report.findings.append(
            error("site", url, f"no answer ({got.error})", "check the URL, and that it is up")
        )
        return
    top, findings = _manifest(got, manifest_url)
    if top is None:
        report.findings.extend(findings)
        report.findings.extend(await _why_no_manifest(p, url))
        return
    report.build = str(top.get("build"))
    site = Site(url, top)
    compressed = await p.get(manifest_url, COMPRESSED, body=False)
    findings += compression_problems("manifest", manifest_url, got.body, compressed.headers)
    if top.get("uninstalled"):
        report.add(findings, "manifest", "the kill switch (--uninstall), revalidated", manifest_url)
        report.findings.extend(await _worker(p, site))
        report.findings.extend((await _install(p, site))[0])
        return
    report.add(findings, "manifest", f"version {VERSION}, revalidated", manifest_url)
    report.add(base_problems(top.get("base"), url, manifest_url), "base-url", f"built for {url}")
    areas: list[Awaitable[list[Finding]]] = [
        _worker(p, site),
        _install_and_agent(p, site),
        _tables(p, site),
    ]
    first = await asyncio.gather(*areas)
    for found in first:
        report.findings.extend(found)
    rest = await asyncio.gather(
        _torrents_and_seeds(p, site), _trackers(p, site), _stats(p, site), _pages(p, site, pages)
    )
    for found in rest:
        report.findings.extend(found)


def _manifest(got: Got, url: str) -> tuple[dict[str, Any] | None, list[Finding]]:
    """The manifest's top level, or None with the reason; its cache problems."""
    if got.status != 200:
        fix = (
            "run planktos build on the site's root and deploy planktos/ and planktos.sw.js "
            "with the site; if the site lives under a path, check that URL"
        )
        return None, [error("manifest", url, f"answered {got.status}", fix)]
    try:
        top = json.loads(got.body)
    except ValueError:
        return None, [
            error("manifest", url, "is not JSON", "deploy the planktos/ that planktos build wrote")
        ]
    if not isinstance(top, dict) or top.get("format") != FORMAT:
        return None, [
            error("manifest", url, "is not a Planktos manifest", "deploy planktos/ as built")
        ]
    if top.get("version") != VERSION:
        return None, [
            error(
                "manifest",
                url,
                f"version {top.get('version')!r}; this planktos reads version {VERSION}",
                "rebuild with this planktos, or check with the planktos that built it",
            )
        ]
    found = revalidated_problems("manifest", url, got.headers)
    if not top.get("uninstalled"):
        try:
            check_runtime(top.get("runtime"))
        except InputError as err:
            found.append(error("manifest", url, f"runtime setting {err}", "rebuild the site"))
        for key in ("index", "refs", "tables", "trackers"):
            if key not in top:
                return None, [error("manifest", url, f"has no {key!r}", "rebuild the site")]
    return top, found


async def _why_no_manifest(p: Prober, url: str) -> list[Finding]:
    """Without a manifest: where do the site's pages look for Planktos, if anywhere? Is there
    a Planktos site at a shorter path?"""
    page = await p.get(url)
    if page.status != 200:
        parent = url
        while base_path(parent) != "/":
            parent = urljoin(parent, "..")
            above = await p.get(urljoin(parent, MANIFEST), body=False)
            if above.status == 200:
                return [
                    error(
                        "base-url",
                        url,
                        f"answered {page.status}, but there is a Planktos site at {parent}",
                        f"check {parent}, or deploy the site at {url}",
                    )
                ]
        return []
    sources = install_sources(page.text(), page.url)
    if not sources:
        return [
            error(
                "pages",
                page.url,
                "loads no planktos/install.js either: not a Planktos site",
                "build it with planktos build --inject and deploy the output",
            )
        ]
    elsewhere = {urljoin(s, "..") for s in sources} - {url}
    if elsewhere:
        other = sorted(elsewhere)[0]
        return [
            error(
                "base-url",
                page.url,
                f"loads {sources[0]}: the site was built for {other}",
                f"check {other}, or rebuild with --base-url {base_path(url)} for this URL",
            )
        ]
    return []


async def _worker(p: Prober, site: Site) -> list[Finding]:
    url = site.at(WORKER)
    got = await p.get(url, redirects=False)
    if got.status in (301, 302, 303, 307, 308):
        return [
            error(
                "worker",
                url,
                f"redirects ({got.status}) to {got.location}: browsers refuse to register a "
                "redirected service worker script",
                "serve planktos.sw.js at this URL itself",
            )
        ]
    if got.status != 200:
        return [
            error(
                "worker",
                url,
                f"answered {got.status}",
                "deploy planktos.sw.js (the build writes it in the site's root) with the site",
            )
        ]
    found = script_type_problems("worker", url, got.headers)
    found += revalidated_problems("worker", url, got.headers)
    mark = _BUILD_MARK.search(got.text()[:200])
    build = site.top.get("build")
    if mark is None and not site.top.get("uninstalled"):
        found.append(
            error("worker", url, "is not a Planktos service worker", "deploy the one built")
        )
    elif mark is not None and mark[1] != build:
        found.append(
            error(
                "worker",
                url,
                f"is from build {mark[1]}, the manifest from build {build}",
                "deploy planktos.sw.js and planktos/ from the same build (or purge a CDN's "
                "old copy)",
            )
        )
    compressed = await p.get(url, COMPRESSED, redirects=False, body=False)
    found += compression_problems("worker", url, got.body, compressed.headers)
    scope = base_path(site.url)
    return found or [ok("worker", url, f"a JavaScript type, build {build}, scope {scope}")]


async def _install(p: Prober, site: Site) -> tuple[list[Finding], str]:
    """install.js's findings, and its text (empty when it could not be read)."""
    url = site.at(INSTALL)
    got = await p.get(url)
    if got.status != 200:
        return [
            error("install.js", url, f"answered {got.status}", "deploy planktos/ with the site")
        ], ""
    found = script_type_problems("install.js", url, got.headers)
    found += revalidated_problems("install.js", url, got.headers)
    compressed = await p.get(url, COMPRESSED, body=False)
    found += compression_problems("install.js", url, got.body, compressed.headers)
    return found or [ok("install.js", url, "a JavaScript type, revalidated")], got.text()


async def _install_and_agent(p: Prober, site: Site) -> list[Finding]:
    found, text = await _install(p, site)
    if not text:
        return found
    name = _AGENT.search(text)
    if name is None:
        return [*found, error("agent", site.at(INSTALL), "names no agent", "rebuild the site")]
    url = site.at("planktos/" + name[0])
    got = await p.get(url)
    if got.status != 200:
        return [
            *found,
            error(
                "agent",
                url,
                f"answered {got.status}",
                "deploy planktos/ whole, and install.js from the same build",
            ),
        ]
    agent = script_type_problems("agent", url, got.headers)
    agent += immutable_problems("agent", url, got.headers)
    compressed = await p.get(url, COMPRESSED, body=False)
    agent += compression_problems("agent", url, got.body, compressed.headers)
    return found + (agent or [ok("agent", url, "a JavaScript type, cached as immutable")])


async def _table(p: Prober, site: Site, sha: str, found: list[Finding]) -> dict[str, Any] | None:
    url = site.at(f"{site.top['tables']}{sha}.json")
    got = await p.get(url)
    if got.status != 200:
        found.append(
            error("tables", url, f"answered {got.status}", "deploy planktos/ whole with the site")
        )
        return None
    if not found:  # one cache finding is enough: every table is served alike
        found += immutable_problems("tables", url, got.headers)
    try:
        return read_table(got.body, sha)
    except ValueError as err:
        found.append(error("tables", url, str(err), "deploy the tables as built (no rewriting)"))
        return None


async def _tables(p: Prober, site: Site) -> list[Finding]:
    """Read the refs table (info hashes) and a few leaves of the file tree (files, shards)."""
    found: list[Finding] = []
    refs = await _table(p, site, str(site.top["refs"]), found)
    if refs is not None:
        site.info_hashes = [str(h) for h in refs.get("infohashes", [])]
    leaves: list[dict[str, Any]] = []
    level = [site.top["index"]]
    read = 0
    while level and len(leaves) < MAX_LEAVES:
        node = level.pop(0)
        if is_leaf(node):
            leaves.append(node)
            continue
        children = node.get("tables") or []
        picks = {0, len(children) // 2, len(children) - 1} if children else set()
        for i in sorted(picks):
            child = await _table(p, site, str(children[i][1]), found)
            read += 1
            if child is not None:
                level.append(child)
    for leaf in leaves:
        site.files.update(leaf.get("files", {}))
        site.shards.update(leaf.get("shards", {}))
    what = f"{len(site.info_hashes)} shards; {len(site.files)} files in {len(leaves)} leaves read"
    return found or [ok("tables", site.at(str(site.top["tables"])), what)]


def _sample_shards(site: Site) -> list[str]:
    """A few shards: the largest single-file ones and a few groups of small files."""
    singles = sorted(
        (s for s, v in site.shards.items() if v.get("files") == 1),
        key=lambda s: -int(site.shards[s].get("length", 0)),
    )
    groups = [s for s, v in site.shards.items() if v.get("files", 0) > 1]
    chosen = singles[:2] + groups[: MAX_SHARDS - min(2, len(singles))]
    return chosen


async def _torrents_and_seeds(p: Prober, site: Site) -> list[Finding]:
    chosen = _sample_shards(site)
    results = await asyncio.gather(*(_shard(p, site, s) for s in chosen))
    torrents = [f for r in results for f in r[0]]
    seeds = [f for r in results for f in r[1]]
    ranges = sum(r[2] for r in results)
    where = site.at("planktos/t/")
    out = torrents or [ok("torrents", where, f"{len(chosen)} sampled: info hashes match")]
    if not chosen:
        return out
    return out + (
        seeds
        or [ok("web seeds", site.url, f"{ranges} ranges answered 206 with exact Content-Range")]
    )


async def _shard(p: Prober, site: Site, shard_id: str) -> tuple[list[Finding], list[Finding], int]:
    """One shard: its torrent (info hash, web seeds, trackers) and ranges of its web seed."""
    shard = site.shards[shard_id]
    url = site.at(str(shard["torrent"]))
    got = await p.get(url)
    if got.status != 200:
        fix = "deploy planktos/ whole with the site"
        return [error("torrents", url, f"answered {got.status}", fix)], [], 0
    found = immutable_problems("torrents", url, got.headers)
    try:
        meta = decode(got.body)
        assert isinstance(meta, dict) and isinstance(meta[b"info"], dict)
        info: dict[bytes, Any] = meta[b"info"]
    except (BencodeError, AssertionError, KeyError):
        return [error("torrents", url, "is not a torrent", "deploy planktos/ as built")], [], 0
    ih = hashlib.sha1(encode(cast(Any, info))).hexdigest()
    if ih != shard["infohash"]:
        found.append(
            error(
                "torrents",
                url,
                f"info hash {ih}, the manifest says {shard['infohash']}",
                "deploy planktos/ as built (no rewriting)",
            )
        )
    webseed = site.at(str(shard["webseed"]))
    url_list = meta.get(b"url-list") or []
    for entry in url_list if isinstance(url_list, list) else [url_list]:
        listed = entry.decode("utf-8", "replace") if isinstance(entry, bytes) else str(entry)
        if listed != webseed:
            found.append(
                error(
                    "base-url",
                    url,
                    f"names the web seed {listed}, but the file is at {webseed}",
                    f"rebuild with --base-url {site.url}",
                )
            )
    seeds, ranges = await _seed_ranges(p, site, shard_id, info, webseed)
    return found, seeds, ranges


async def _seed_ranges(
    p: Prober, site: Site, shard_id: str, info: dict[bytes, Any], webseed: str
) -> tuple[list[Finding], int]:
    """Ranges of a shard's web seed, checked to the byte: the last piece of a single-file
    torrent (against its SHA-1); a file of a tree, at its web seed and at its own URL (against
    the file, itself checked against the manifest's SHA-256). Returns findings and ranges asked."""
    piece_length = int(info[b"piece length"])
    if b"length" in info:
        total = int(info[b"length"])
        if total < 2:
            return [], 0
        last = (total - 1) // piece_length
        digest = bytes(info[b"pieces"][20 * last : 20 * last + 20])
        return await _range(p, webseed, last * piece_length, total - 1, total, sha1=digest), 1
    entries = {
        e["index"]: k
        for k, e in site.files.items()
        if e.get("shard") == shard_id and e.get("length", 0) >= 2
    }
    if not entries:
        return [], 0
    index = min(entries)
    key = entries[index]
    total = int(site.files[key]["length"])
    path = "/".join(part.decode() for part in info[b"files"][index][b"path"])
    seed_url = f"{webseed}{quote(shard_id)}/{path}"
    whole = await p.get(site.at(key))
    if whole.status != 200:
        fix = "deploy every file of the build with the site"
        return [error("web seeds", whole.url, f"answered {whole.status}", fix)], 0
    sha = site.files[key].get("sha256")
    if sha is not None and hashlib.sha256(whole.body).hexdigest() != sha:
        problem = "differs from the file the build hashed: browsers reject its bytes"
        fix = "rebuild after changing files, and deploy the build's output with them"
        return [error("web seeds", whole.url, problem, fix)], 0
    end = min(total - 1, piece_length)
    expect = whole.body[1 : end + 1]
    found = await _range(p, seed_url, 1, end, total, expect=expect)
    found += await _range(p, site.at(key), 1, end, total, expect=expect)
    return found, 2


async def _range(
    p: Prober,
    url: str,
    start: int,
    end: int,
    total: int,
    *,
    expect: bytes | None = None,
    sha1: bytes | None = None,
) -> list[Finding]:
    """Ask ``url`` for bytes ``start``-``end`` of ``total`` and judge the answer."""
    got = await p.get(url, {"Range": f"bytes={start}-{end}"})
    if got.status == 0:
        return [error("web seeds", url, f"no answer ({got.error})", "check the host")]
    answer = RangeAnswer(got.status, got.headers, got.body)
    found = range_problems("web seeds", url, start, end, total, answer)
    wrong = (expect is not None and got.body != expect) or (
        sha1 is not None and hashlib.sha1(got.body).digest() != sha1
    )
    if not found and wrong:
        problem = "serves other bytes than the build published: peers reject them"
        fix = "rebuild after changing files, and deploy planktos/ from the same build"
        found = [error("web seeds", url, problem, fix)]
    return found


def _tracker_fix(ws_url: str) -> str:
    path = base_path(ws_url)
    return (
        f"proxy {path} to planktos serve with the WebSocket upgrade (nginx: proxy_pass "
        "http://127.0.0.1:8080/planktos/tracker; with the Upgrade headers, as in the README)"
    )


async def _trackers(p: Prober, site: Site) -> list[Finding]:
    """Each tracker upgrades to a WebSocket and accepts the manifest's info hashes (a scrape)."""
    urls = list(dict.fromkeys(tracker_url(str(t), site.url) for t in site.top["trackers"]))
    hashes = site.info_hashes
    if len(hashes) > MAX_SCRAPE:  # spread the sample over the sorted list
        step = len(hashes) / MAX_SCRAPE
        hashes = [hashes[int(i * step)] for i in range(MAX_SCRAPE)]
    asked = [bytes.fromhex(h) for h in hashes]
    found: list[Finding] = []
    for url in urls[:MAX_TRACKERS]:
        status, reply, why = await p.scrape(url, asked)
        if status == 0:
            found.append(
                error("tracker", url, f"no answer ({why})", "run the tracker and make it reachable")
            )
        elif status != 101:
            found.append(
                error(
                    "tracker", url, f"answered {status} to the WebSocket upgrade", _tracker_fix(url)
                )
            )
        elif why:
            found.append(error("tracker", url, why, "serve the tracker with planktos serve"))
        elif "failure reason" in reply:
            refused = reply.get("info_hash")
            which = refused.encode("latin-1").hex() if isinstance(refused, str) else "one"
            found.append(
                error(
                    "tracker",
                    url,
                    f"refuses info hash {which} of this site ({reply['failure reason']})",
                    "run planktos serve over this site's root (it serves its manifest's info "
                    "hashes), or planktos tracker --manifest with this build's manifest",
                )
            )
        else:
            what = f"WebSocket upgrade; accepts the {len(asked)} info hashes asked"
            found.append(ok("tracker", url, what))
    return found


async def _stats(p: Prober, site: Site) -> list[Finding]:
    """Visitors' reports reach ``planktos/stats`` (unless the build turned them off)."""
    url = site.at(STATS)
    interval = (site.top.get("runtime") or {}).get("stats_interval_s", 0)
    if not interval:
        return [ok("stats", url, "reports off (stats_interval_s=0)")]
    # An empty report: refused with 400 by planktos serve, so nothing is counted.
    got = await p.get(
        url, {"Content-Type": "application/json"}, method="POST", data=b"{}", redirects=False
    )
    if got.status not in (204, 400, 413, 415, 429):
        return [
            error(
                "stats",
                url,
                f"answered a report with {got.status}: visitors' reports are lost",
                f"proxy {base_path(url)} and {base_path(site.at(DASHBOARD))} to planktos serve, "
                "or build with --runtime stats_interval_s=0",
            )
        ]
    dash = await p.get(site.at(DASHBOARD), redirects=False, body=False)
    if dash.status not in (200, 401, 403):
        return [
            warning(
                "stats",
                dash.url,
                f"answered {dash.status}",
                f"proxy {base_path(dash.url)} to planktos serve to see the dashboard",
            )
        ]
    return [ok("stats", url, f"takes reports (every {interval} s); dashboard reachable")]


def _sample_pages(site: Site, count: int) -> list[str]:
    """The site's URL and HTML pages of the sampled leaves, spread evenly, ``count`` in all."""
    pages = sorted(
        k for k, e in site.files.items() if str(e.get("type", "")).startswith(_HTML_TYPES)
    )
    rest = max(0, count - 1)
    if len(pages) > rest:
        step = len(pages) / rest if rest else 0
        pages = [pages[int(i * step)] for i in range(rest)]
    urls = [site.url] + [site.at(k) for k in pages]
    return list(dict.fromkeys(urls))[: max(1, count)]


async def _pages(p: Prober, site: Site, count: int) -> list[Finding]:
    """A sample of pages load this site's install.js."""
    urls = _sample_pages(site, count)
    got = await asyncio.gather(*(p.get(u) for u in urls))
    want = site.at(INSTALL)
    path = base_path(site.url)
    tag = f'<script src="{path}{INSTALL}" async></script>'
    found: list[Finding] = []
    missing: list[str] = []
    good = 0
    for page in got:
        if page.status == 404 and page.url == site.url and "index.html" not in site.files:
            continue  # the site's root need not be a page
        if page.status != 200:
            found.append(
                error("pages", page.url, f"answered {page.status}", "deploy every page built")
            )
            continue
        sources = install_sources(page.text(), page.url)
        if want in sources:
            good += 1
        elif sources:
            found.append(
                error(
                    "pages",
                    page.url,
                    f"loads {sources[0]}, not this site's {want}",
                    f"rebuild with --base-url {path} --inject (the tag follows the base URL)",
                )
            )
        else:
            missing.append(page.url)
    fix = f"build with planktos build --inject, or add {tag} to every page's <head>"
    if missing and not good:
        found.append(
            error(
                "pages",
                missing[0],
                f"none of the {len(missing)} pages checked loads {INSTALL}: visitors never "
                "get the service worker",
                fix,
            )
        )
    elif missing:
        shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
        found.append(
            warning(
                "pages",
                site.url,
                f"{len(missing)} of {len(got)} pages checked do not load {INSTALL}: {shown}",
                fix,
            )
        )
    return found or [ok("pages", site.url, f"{good} pages checked load {INSTALL}")]
