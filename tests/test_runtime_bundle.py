"""The bundled browser runtime (``make runtime``): present, within budget, written by builds."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from planktos import runtime
from planktos.build import BuildOptions, build
from planktos.errors import BuildError
from tests.conftest import write

DIST = Path(runtime.__file__).parent / "dist"
# What a visitor downloads (issue 11): gzip at level 9, as `planktos build` and js/build.mjs make.
SW_GZIP_LIMIT = 16_300  # the build's guard (js/build.mjs); the target is 12 KB (DESIGN.md)
AGENT_GZIP_LIMIT = 90 * 1024


def gzipped_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9))


def unbrotli(data: bytes) -> bytes:
    """Brotli-decode with Node's zlib (Python has no brotli; Node builds the runtime)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed to decode brotli")
    code = "const z = require('zlib'), fs = require('fs');"
    code += "process.stdout.write(z.brotliDecompressSync(fs.readFileSync(0)))"
    return subprocess.run([node, "-e", code], input=data, capture_output=True, check=True).stdout


def test_bundles_exist_and_fit_their_compressed_budgets() -> None:
    for name in ("planktos.sw.js", "install.js", "agent.js"):
        assert (DIST / name).is_file(), f"{name} missing: run make runtime"
    sw = runtime.service_worker("0123456789abcdef")
    assert gzipped_size(sw.encode()) <= SW_GZIP_LIMIT
    assert gzipped_size(runtime.agent_script().encode()) <= AGENT_GZIP_LIMIT
    assert "0123456789abcdef" in sw and runtime.BUILD_PLACEHOLDER not in sw
    assert "RTCPeerConnection" not in sw  # WebTorrent stays out of the service worker
    assert "RTCPeerConnection" in runtime.agent_script()
    assert "planktos/agent.js" not in runtime.install_script()
    assert runtime.agent_name() in runtime.install_script()


def test_build_writes_the_runtime(site: Path) -> None:
    write(site, "index.html", "<p>hi</p>")
    result = build(BuildOptions(root=site))
    manifest = json.loads((site / "planktos/manifest.json").read_text())
    sw = (site / "planktos.sw.js").read_text()
    assert manifest["build"] == result.build and result.build in sw
    agent = runtime.agent_name()
    assert agent.startswith("agent.") and len(agent) == len("agent.0123456789abcdef.js")
    assert (site / "planktos" / agent).read_bytes() == (DIST / "agent.js").read_bytes()
    assert (site / "planktos/install.js").read_bytes() == (DIST / "install.js").read_bytes()
    assert not (site / "planktos/agent.js").exists()


def test_build_writes_precompressed_copies(site: Path) -> None:
    """Each runtime file and the manifest has a .gz (and the scripts a .br) of its bytes."""
    build(BuildOptions(root=site))
    agent = runtime.agent_name()
    for rel in (f"planktos/{agent}", "planktos/install.js"):
        data = (site / rel).read_bytes()
        assert gzip.decompress((site / f"{rel}.gz").read_bytes()) == data, rel
        assert unbrotli((site / f"{rel}.br").read_bytes()) == data, rel
        assert (site / f"{rel}.br").stat().st_size < (site / f"{rel}.gz").stat().st_size
    for rel in ("planktos.sw.js", "planktos/manifest.json"):
        data = (site / rel).read_bytes()
        assert gzip.decompress((site / f"{rel}.gz").read_bytes()) == data, rel
        assert not (site / f"{rel}.br").exists()  # not worth brotli at build time (output.py)
    # A rebuild with another manifest rewrites its copy along with it.
    write(site, "new.html", "<p>new</p>")
    build(BuildOptions(root=site))
    assert (
        gzip.decompress((site / "planktos/manifest.json.gz").read_bytes())
        == (site / "planktos/manifest.json").read_bytes()
    )


def _copies_match(site: Path) -> set[str]:
    """The tables and torrents with a gzip copy; asserts each copy is of its file's bytes
    and no copy is left without its file."""
    out = site / "planktos"
    with_copy = set()
    for directory in (out / "i", out / "t"):
        for gz in directory.glob("*.gz"):
            plain = gz.with_suffix("")
            assert plain.exists(), f"{gz.name} outlived its file"
            assert gzip.decompress(gz.read_bytes()) == plain.read_bytes(), gz.name
            with_copy.add(plain.name)
    return with_copy


def test_tables_and_torrents_get_gzip_copies(site: Path) -> None:
    """A visitor fetches a table and a torrent per shard it touches: gzipped, they cost a
    third (tables) to two thirds (torrents) of their size. Copies follow their file through
    rebuilds: added to a table an older build wrote, replaced with a torrent, deleted with it."""
    build(BuildOptions(root=site))
    out = site / "planktos"
    tables = {p.name for p in (out / "i").glob("*.json")}
    with_copy = _copies_match(site)
    assert tables <= with_copy
    assert any(name.endswith(".torrent") for name in with_copy)  # the multi-file shards'
    # A table written before copies existed gets its copy at the next build.
    table = next(iter(tables))
    (out / "i" / f"{table}.gz").unlink()
    build(BuildOptions(root=site))
    assert table in _copies_match(site)
    # New trackers rewrite every torrent in place: the copies with them.
    build(BuildOptions(root=site, trackers=["wss://tracker.example/announce"]))
    torrents = [p for p in (out / "t").glob("*.torrent") if p.name in _copies_match(site)]
    assert torrents and all(b"tracker.example" in p.read_bytes() for p in torrents)
    # Files gone: their shards' torrents and tables go (after one build), copies with them.
    for post in (site / "blog").glob("post-*.html"):
        post.unlink()
    build(BuildOptions(root=site, trackers=["wss://tracker.example/announce"]))
    build(BuildOptions(root=site, trackers=["wss://tracker.example/announce"]))
    _copies_match(site)


def test_unchanged_install_script_is_left_alone(site: Path) -> None:
    """Its validators stay from build to build, so revalidating it costs a 304."""
    build(BuildOptions(root=site))
    out = site / "planktos"
    before = {n: (out / n).stat().st_mtime_ns for n in ("install.js", "install.js.gz")}
    write(site, "new.html", "<p>new</p>")
    build(BuildOptions(root=site))
    assert {n: (out / n).stat().st_mtime_ns for n in before} == before


def test_old_agents_are_kept_for_one_build(site: Path) -> None:
    """Visitors on the previous build import the agent its install.js names: it stays one
    build longer, like the previous build's torrents; a plain agent.js from before the hashed
    names too."""
    out = site / "planktos"
    build(BuildOptions(root=site))
    current = runtime.agent_name()
    # Pretend the previous build published an older agent (and the one before, plain agent.js).
    older = "agent.00000000000000aa.js"
    for suffix in ("", ".br", ".gz"):
        (out / f"{older}{suffix}").write_bytes(b"old")
        (out / f"agent.js{suffix}").write_bytes(b"older")
    install = (out / "install.js").read_text().replace(current, older)
    (out / "install.js").write_text(install)
    write(site, "new.html", "<p>new</p>")
    build(BuildOptions(root=site))
    names = {p.name for p in out.iterdir()}
    assert {older, f"{older}.br", f"{older}.gz", current, f"{current}.gz"} <= names
    assert not {n for n in names if n.startswith("agent.js")}
    write(site, "newer.html", "<p>newer</p>")
    build(BuildOptions(root=site))
    agents = sorted(n for n in (p.name for p in out.iterdir()) if n.startswith("agent"))
    assert agents == [current, f"{current}.br", f"{current}.gz"]


def test_uninstall_leaves_no_stale_copies(site: Path) -> None:
    """The kill switch replaces install.js and the SW: no copy of the old ones may outlive them
    (a gzip-capable browser would get the old script from nginx's gzip_static)."""
    build(BuildOptions(root=site))
    build(BuildOptions(root=site, uninstall=True))
    for rel in ("planktos/install.js", "planktos.sw.js", "planktos/manifest.json"):
        data = (site / rel).read_bytes()
        assert not (site / f"{rel}.br").exists()
        gz = site / f"{rel}.gz"
        assert not gz.exists() or gzip.decompress(gz.read_bytes()) == data


def test_uninstall_keeps_hand_written_scripts(site: Path) -> None:
    write(site, "index.html", "<p>hi</p>")
    build(BuildOptions(root=site, uninstall=True))
    assert "unregister" in (site / "planktos/install.js").read_text()
    assert "clearPlanktosData" in (site / "planktos.sw.js").read_text()


def test_missing_bundles_are_a_clear_build_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "files", lambda _pkg: Path("/nonexistent"))
    with pytest.raises(BuildError, match="not built; run make runtime"):
        runtime.install_script()


def test_install_script_naming_another_agent_is_a_build_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Bundles from different runs of js/build.mjs: pages would import an agent not published."""
    stale = runtime.install_script().replace(runtime.agent_name(), "agent.00000000000000aa.js")
    monkeypatch.setattr(runtime, "install_script", lambda uninstall=False: stale)
    with pytest.raises(BuildError, match=r"install\.js names another agent"):
        runtime.published_scripts()
