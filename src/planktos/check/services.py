"""What the site runs beside its files, and its pages: each tracker (WebSocket upgrade, the
manifest's info hashes accepted), the stats endpoint and dashboard, the install tag on a
sample of pages."""

from __future__ import annotations

import asyncio

from planktos.check.findings import Finding, error, ok, warning
from planktos.check.judge import base_path, install_sources, tracker_url
from planktos.check.probe import Prober
from planktos.check.target import DASHBOARD, INSTALL, STATS, Site

MAX_TRACKERS = 3
MAX_SCRAPE = 100  # the tracker's own limit per scrape
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def _tracker_fix(ws_url: str) -> str:
    path = base_path(ws_url)
    return (
        f"proxy {path} to planktos serve with the WebSocket upgrade (nginx: proxy_pass "
        "http://127.0.0.1:8080/planktos/tracker; with the Upgrade headers, as in the README)"
    )


def _hex(info_hash: object) -> str:
    """A tracker's binary-string info hash in hex (``one`` when it is not one)."""
    try:
        return info_hash.encode("latin-1").hex() if isinstance(info_hash, str) else "one"
    except UnicodeEncodeError:
        return "one"


async def trackers(p: Prober, site: Site) -> list[Finding]:
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
            which = _hex(reply.get("info_hash"))
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


async def stats(p: Prober, site: Site) -> list[Finding]:
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


async def pages(p: Prober, site: Site, count: int) -> list[Finding]:
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
