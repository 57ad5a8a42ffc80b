"""What a visitor's offload reports cost on the wire: bytes per beacon, and per minute.

One real Chromium visitor (the tests' launch recipe) browses the browser tests' site under
``planktos serve``, with reports every 5 s, then leaves; every ``POST /planktos/stats`` it
sends is captured (request line, headers as sent, body), and the same request replayed over
a raw socket gives the server's answer byte for byte. A visitor sends at most one beacon a
minute while it stays, and one when it leaves a page with something new to report.

Run (loopback only): ``scripts/in-netns .venv/bin/python bench/beacon_cost.py``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import sys
import tempfile
from pathlib import Path
from urllib.request import urlopen

from playwright.async_api import Request, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.browsers import PERMISSIONS, Visitor, launch
from tests.browser.probes import arrive, until_page_complete
from tests.browser.sites import PAGES, planktos_build, write_site
from tests.servers import planktos_serve

RESULTS = Path(__file__).resolve().parent / "results"


def wire_request(method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items() if not k.startswith(":")
    )
    return (head + "\r\n").encode() + body


def replay(port: int, request: bytes) -> bytes:
    """Send ``request`` to the server and return its whole answer (a 204 has no body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.replace(b"keep-alive", b"close"))
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
    return out


async def visit(url: str) -> list[tuple[dict[str, str], bytes, str]]:
    beacons: list[tuple[dict[str, str], bytes, str]] = []
    pending: list[asyncio.Task[None]] = []

    async def record(request: Request) -> None:
        headers = await request.all_headers()
        beacons.append((headers, request.post_data_buffer or b"", request.url))

    async with async_playwright() as pw:
        browser = await launch(pw)
        context = await browser.new_context(permissions=PERMISSIONS)
        context.on(
            "request",
            lambda r: (
                pending.append(asyncio.ensure_future(record(r)))
                if r.method == "POST" and r.url.endswith("/planktos/stats")
                else None
            ),
        )
        landing = await arrive(Visitor("A", context), url)
        tab = await context.new_page()
        for page in PAGES:
            await tab.goto(url + page.url)
            await until_page_complete(tab, page)
        await asyncio.sleep(6)  # one periodic report
        for page in reversed(PAGES):
            await tab.goto(url + page.url)  # leaving a page: a report if anything is new
        await tab.close()
        await landing.close()
        await asyncio.sleep(1)
        await asyncio.gather(*pending)
        await browser.close()
    return beacons


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "site"
        write_site(root)
        planktos_build(root, "--quiet")
        manifest = root / "planktos" / "manifest.json"
        data = json.loads(manifest.read_text())
        data["runtime"]["stats_interval_s"] = 5
        manifest.write_text(json.dumps(data, sort_keys=True))
        with planktos_serve(root, "--stats-db", str(Path(tmp) / "stats.sqlite3")) as served:
            beacons = asyncio.run(visit(served.url))
            with urlopen(served.url + "planktos/stats", timeout=10) as resp:
                reported = json.loads(resp.read())["aggregates"]["totals"]["reports"]
            # Playwright does not see a beacon sent by a page as it closes; those are counted
            # by the server and have the same shape.
            assert reported >= len(beacons) > 0, (reported, len(beacons))
            sizes = []
            for headers, body, url in beacons:
                path = url.split(str(served.port), 1)[1]
                request = wire_request("POST", path, headers, body)
                response = replay(served.port, request)
                assert response.startswith(b"HTTP/1.1 204"), response[:80]
                sizes.append((len(body), len(request), len(response)))
    body = statistics.median(s[0] for s in sizes)
    request = statistics.median(s[1] for s in sizes)
    response = statistics.median(s[2] for s in sizes)
    result = {
        "beacons_measured": len(sizes),
        "beacons_received": reported,
        "body_bytes_median": body,
        "request_bytes_median": request,
        "response_bytes_median": response,
        "bytes_per_beacon": request + response,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "beacon.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{reported} beacons ({len(sizes)} measured): body {body:.0f} B, "
        f"request with headers {request:.0f} B, "
        f"response {response:.0f} B; {request + response:.0f} B per beacon on the wire "
        "(at most one a minute while a visitor stays, plus one per page left)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
