"""``planktos check URL``: a deployed Planktos site checked from outside, as browsers see it.

Areas, in report order: HTTPS, the manifest (and the base URL it was built for), the service
worker, install.js, the agent, the manifest's tables, torrents, web seeds (Range), the
tracker, the stats endpoint, pages (the install tag). Each area gives one ``ok`` line or a
line per problem with its fix. Samples keep a large site's check short: a few leaves of the
file tree, a few shards, a few pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from urllib.parse import urljoin

from planktos.check import content, scripts, services
from planktos.check.findings import Finding, Report, error
from planktos.check.judge import (
    base_path,
    base_problems,
    check_site_url,
    compression_problems,
    install_sources,
    is_local,
)
from planktos.check.probe import COMPRESSED, Prober
from planktos.check.target import MANIFEST, Site
from planktos.manifest import VERSION


def run_check(url: str, *, pages: int, timeout_s: float, as_json: bool, strict: bool) -> int:
    """Check the site at ``url``, print the report; returns the exit status."""
    report = asyncio.run(check_site(url, pages=pages, timeout_s=timeout_s))
    print(report.json() if as_json else report.text(), flush=True)
    return report.exit_status(strict)


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
    top, findings = scripts.read_top(got, manifest_url)
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
        report.findings.extend(await scripts.worker(p, site))
        report.findings.extend((await scripts.install(p, site))[0])
        return
    report.add(findings, "manifest", f"version {VERSION}, revalidated", manifest_url)
    report.add(base_problems(top.get("base"), url, manifest_url), "base-url", f"built for {url}")
    areas: list[Awaitable[list[Finding]]] = [
        scripts.worker(p, site),
        scripts.install_and_agent(p, site),
        content.tables(p, site),
    ]
    first = await asyncio.gather(*areas)
    for found in first:
        report.findings.extend(found)
    rest = await asyncio.gather(
        content.torrents_and_seeds(p, site),
        services.trackers(p, site),
        services.stats(p, site),
        services.pages(p, site, pages),
    )
    for found in rest:
        report.findings.extend(found)


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
