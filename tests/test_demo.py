"""planktos demo: builds and serves the bundled example site, then cleans up."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.request import Request, urlopen

from planktos.demo import example_site
from tests.servers import planktos_process


def test_demo_serves_the_example_site() -> None:
    pages = sorted(p.relative_to(example_site()).as_posix() for p in example_site().rglob("*.html"))
    assert "index.html" in pages and len(pages) >= 4
    with planktos_process("demo", "--port", "0") as served:
        with urlopen(served.url, timeout=10) as resp:
            assert resp.status == 200 and b"Planktos" in resp.read()
        with urlopen(served.url + "planktos/manifest.json", timeout=10) as resp:
            manifest = json.loads(resp.read())
        files = manifest["index"]["files"]  # a site this small: the top level lists every file
        videos = [u for u, e in files.items() if e["type"].startswith("video/")]
        assert videos and manifest["base"] == served.url
        video = files[videos[0]]
        assert video["length"] > 4_000_000 and "chunks" in video
        request = Request(served.url + videos[0], headers={"Range": "bytes=1000-1999"})
        with urlopen(request, timeout=10) as resp:
            assert resp.status == 206 and len(resp.read()) == 1000
        proc = served.proc
    out = proc.stdout.read() if proc.stdout else ""
    match = re.search(r"the origin sent ([\d,]+) body bytes; removing (\S+)", out)
    assert match, out
    assert int(match[1].replace(",", "")) >= 1000
    assert not Path(match[2]).exists()
