"""The manifest and Planktos' own scripts, as browsers fetch them: the manifest's top level,
``planktos.sw.js`` (type, redirect, caching, build), ``install.js`` and the agent it names."""

from __future__ import annotations

import json
import re
from typing import Any

from planktos.check.findings import Finding, error, ok
from planktos.check.judge import (
    base_path,
    compression_problems,
    immutable_problems,
    revalidated_problems,
    script_type_problems,
)
from planktos.check.probe import COMPRESSED, Got, Prober
from planktos.check.target import INSTALL, WORKER, Site
from planktos.errors import InputError
from planktos.manifest import FORMAT, VERSION, check_runtime

_BUILD_MARK = re.compile(r"/\*PLANKTOS_BUILD=([0-9a-f]{16})\*/")
_AGENT = re.compile(r"agent\.[0-9a-f]{16}\.js")


def read_top(got: Got, url: str) -> tuple[dict[str, Any] | None, list[Finding]]:
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


async def worker(p: Prober, site: Site) -> list[Finding]:
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


async def install(p: Prober, site: Site) -> tuple[list[Finding], str]:
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


async def install_and_agent(p: Prober, site: Site) -> list[Finding]:
    found, text = await install(p, site)
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
