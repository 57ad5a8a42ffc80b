"""``planktos mirror``: a real mirror process (libtorrent) following a real ``planktos serve``
through a rebuild; its bad inputs; and the pure planning of what it holds."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from planktos.cli import main
from planktos.manifest import read_full
from planktos.mirror.plan import plan
from planktos.mirror.site import ShardInfo, matches, resolve_trackers, site_urls, stun_server
from tests.mirrors import MirrorProcess
from tests.servers import free_port, planktos_serve

LARGE = 1536 * 1024  # over LARGE_FILE: a shard of its own


def write_site(root: Path) -> None:
    rng = random.Random("mirror")
    (root / "docs").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>home</title>home", encoding="utf-8")
    for i in range(5):
        (root / f"docs/page{i}.html").write_bytes(b"page %d " % i + rng.randbytes(20_000))
    (root / "big.bin").write_bytes(rng.randbytes(LARGE))
    (root / "notes").mkdir()
    for i in range(300):  # enough entries that the manifest's index is in tables
        (root / f"notes/n{i:03}.txt").write_bytes(b"note %d" % i)


def build(root: Path, *args: str) -> dict[str, dict[str, object]]:
    """Build the site; its shards by info hash."""
    assert main(["build", "--root", str(root), "--quiet", *args]) == 0
    shards: dict[str, dict[str, object]] = read_full(root / "planktos/manifest.json")["shards"]
    return {str(s["infohash"]): s for s in shards.values()}


def on_disk(directory: Path, infohash: str) -> dict[str, bytes]:
    """The files of a shard the mirror holds, by path inside its directory."""
    base = directory / "shards" / infohash
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*") if p.is_file()}


def site_contents(root: Path, infohash: str) -> list[bytes]:
    """The contents of the files of the site's shard ``infohash``, sorted."""
    manifest = read_full(root / "planktos/manifest.json")
    key = next(k for k, s in manifest["shards"].items() if s["infohash"] == infohash)
    paths = [unquote(p) for p, e in manifest["files"].items() if e.get("shard") == key]
    return sorted((root / p).read_bytes() for p in paths)


def test_mirror_follows_a_rebuild(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_site(site)
    first = build(site)
    log = tmp_path / "access.log"
    store = tmp_path / "mirror"
    with planktos_serve(site, "--access-log", str(log)) as served:
        mirror = MirrorProcess(served.url, store, "--poll", "0.2", "--grace", "5")
        try:
            status = mirror.until_seeding(set(first))
            assert {s["infohash"] for s in status["shards"]} == set(first)
            for ih in first:
                assert sorted(on_disk(store, ih).values()) == site_contents(site, ih), ih

            # A rebuild: one page changes, the large file goes, another comes.
            (site / "docs/page3.html").write_bytes(b"changed " + random.randbytes(30_000))
            (site / "big.bin").unlink()
            (site / "big2.bin").write_bytes(random.Random("2").randbytes(LARGE))
            second = build(site)
            gone = set(first) - set(second)
            assert len(gone) == 2, "the large file's shard and the changed page's"
            # The dropped shards are still seeded for the grace period, then removed.
            old_build = status["build"]
            status = mirror.until(lambda s: s["build"] != old_build)
            retiring = {r["infohash"] for r in status["shards"] if "remove_at" in r}
            assert retiring == gone, status
            assert all(on_disk(store, ih) for ih in gone)
            mirror.until_seeding(set(second))
            for ih in second:
                assert sorted(on_disk(store, ih).values()) == site_contents(site, ih), ih
            mirror.until(lambda s: {r["infohash"] for r in s["shards"]} == set(second))
            assert not any((store / "shards" / ih).exists() for ih in gone)
        finally:
            assert mirror.stop(signal.SIGINT) == 0, mirror.output()
        # Polls were conditional: the unchanged manifest answered 304 without a body.
        lines = [line for line in log.read_text().splitlines() if "manifest.json" in line]
        assert sum(" 304 " in line for line in lines) >= 3, lines

        # A restart takes back what it held without downloading it again.
        again = MirrorProcess(served.url, store, "--poll", "0.2")
        try:
            status = again.until_seeding(set(second))
            assert status["totals"]["downloaded"] == 0, status
            # The origin goes down: the mirror says so and keeps what it holds.
            served.proc.send_signal(signal.SIGINT)
            served.proc.wait(timeout=10)
            status = again.until(lambda s: "cannot reach the site" in s["manifest_note"])
            assert {r["infohash"]: r["state"] for r in status["shards"]} == dict.fromkeys(
                second, "seeding"
            )
        finally:
            assert again.stop() == 0, again.output()


def run_mirror(*args: str, python: str = "") -> subprocess.CompletedProcess[str]:
    """``planktos mirror ARGS`` in a subprocess (``python``: code run before the CLI)."""
    code = f"import sys\n{python}\nfrom planktos.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, "mirror", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *parts: str, status: int = 1) -> None:
    assert proc.returncode == status, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("planktos mirror: error: "), proc.stderr
    for part in parts:
        assert part in lines[0], lines[0]


@pytest.fixture
def built_site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    write_site(site)
    build(site)
    return site


def test_bad_url(tmp_path: Path) -> None:
    for url in ("ftp://example.com/", "example.com", "http:///nohost"):
        one_line_error(run_mirror(url, "--dir", str(tmp_path / "m")), url, "invalid URL")
    one_line_error(
        run_mirror(f"http://127.0.0.1:{free_port()}/", "--dir", str(tmp_path / "m")),
        "cannot reach the site",
    )
    assert not (tmp_path / "m").exists()


def test_not_a_planktos_site(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "planktos").mkdir(parents=True)
    (plain / "index.html").write_text("hello", encoding="utf-8")
    with planktos_serve(plain) as served:
        one_line_error(run_mirror(served.url, "--dir", str(tmp_path / "m")), "not a Planktos site")
        (plain / "planktos/manifest.json").write_text('{"hello": 1}', encoding="utf-8")
        one_line_error(
            run_mirror(served.url + "planktos/manifest.json", "--dir", str(tmp_path / "m")),
            "not a Planktos manifest",
        )
    assert not (tmp_path / "m").exists()


def test_unreachable_tracker(built_site: Path, tmp_path: Path) -> None:
    dead = f"ws://127.0.0.1:{free_port()}/announce"
    build(built_site, "--tracker", dead)
    with planktos_serve(built_site) as served:
        one_line_error(run_mirror(served.url, "--dir", str(tmp_path / "m")), dead, "tracker")
        build(built_site, "--tracker", "/no-tracker-here")
        one_line_error(
            run_mirror(served.url, "--dir", str(tmp_path / "m")),
            "/no-tracker-here",
            "answered HTTP 404, not a WebSocket upgrade",
        )
    assert not (tmp_path / "m").exists()


def test_only_and_dir_mistakes(built_site: Path, tmp_path: Path) -> None:
    with planktos_serve(built_site) as served:
        one_line_error(
            run_mirror(served.url, "--only", "nowhere/", "--dir", str(tmp_path / "m")),
            "--only nowhere/",
            "no file of the site",
        )
        assert not (tmp_path / "m").exists()
        other = tmp_path / "other"
        other.mkdir()
        (other / "state.json").write_text('{"site": "http://example.com/"}', encoding="utf-8")
        one_line_error(
            run_mirror(served.url, "--dir", str(other)), "holds a mirror of http://example.com/"
        )
        missing = run_mirror(
            served.url, "--dir", str(tmp_path / "m"), python="sys.modules['libtorrent'] = None"
        )
        one_line_error(missing, "libtorrent", "pip install 'planktos[mirror]'")
        assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--max-disk", "lots"),
        ("--upload-limit", "-5"),
        ("--download-limit", "1T"),
        ("--grace", "-1"),
        ("--poll", "0"),
    ],
)
def test_bad_option_values(option: str, value: str, tmp_path: Path) -> None:
    proc = run_mirror("http://127.0.0.1:1/", option, value, "--dir", str(tmp_path / "m"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and value in proc.stderr, proc.stderr


def test_mirror_with_only_holds_just_those_files(built_site: Path, tmp_path: Path) -> None:
    store = tmp_path / "mirror"
    top = json.loads((built_site / "planktos/manifest.json").read_bytes())
    assert "tables" in top["index"], "the mirror reads the file tables"
    manifest = read_full(built_site / "planktos/manifest.json")
    shard = manifest["shards"][manifest["files"]["docs/page1.html"]["shard"]]
    with planktos_serve(built_site) as served:
        mirror = MirrorProcess(served.url, store, "--only", "docs/page1.html")
        try:
            status = mirror.until_seeding()
        finally:
            assert mirror.stop() == 0, mirror.output()
    assert [r["infohash"] for r in status["shards"]] == [shard["infohash"]]
    row = status["shards"][0]
    assert row["size"] < shard["length"] and row["size"] >= len(
        (built_site / "docs/page1.html").read_bytes()
    )
    held = on_disk(store, str(shard["infohash"]))
    page = next(v for k, v in held.items() if k.endswith("docs/page1.html"))
    assert page == (built_site / "docs/page1.html").read_bytes()
    tables = {p.name for p in (store / "tables").iterdir()}  # kept: immutable, by SHA-256
    assert tables and tables <= {p.name for p in (built_site / "planktos/i").iterdir()}


# The pure parts.


def shard(key: str, length: int = 100) -> ShardInfo:
    return ShardInfo(key, "ih-" + key, length, f"t/{key}", f"w/{key}/")


def test_plan_retires_then_removes_after_the_grace_period() -> None:
    a, b, c = shard("a"), shard("b"), shard("c")
    step = plan({a.infohash: a, c.infohash: c}, {a.infohash: a, b.infohash: b}, {}, 100.0, 10.0)
    assert [s.key for s in step.add] == ["c"] and step.keep == [a.infohash]
    assert step.retiring == {b.infohash: 110.0} and step.remove == []
    held = {a.infohash: a, b.infohash: b, c.infohash: c}
    step = plan({a.infohash: a, c.infohash: c}, held, step.retiring, 109.9, 10.0)
    assert step.retiring == {b.infohash: 110.0} and step.remove == []
    step = plan({a.infohash: a, c.infohash: c}, held, step.retiring, 110.0, 10.0)
    assert step.retiring == {} and step.remove == [b.infohash]
    # A retiring shard named again by a newer build is kept.
    step = plan({b.infohash: b}, held, {b.infohash: 110.0}, 105.0, 10.0)
    assert step.keep == [b.infohash] and b.infohash not in step.retiring


def test_plan_under_a_disk_cap_evicts_retiring_shards_first() -> None:
    old, new1, new2 = shard("old", 60), shard("n1", 50), shard("n2", 50)
    held = {old.infohash: old}
    # Room for the new shard beside the retiring one: both stay.
    step = plan({new1.infohash: new1}, held, {}, 0.0, 100.0, cap=110)
    assert [s.key for s in step.add] == ["n1"] and step.retiring == {old.infohash: 100.0}
    # The current build first: the retiring shard goes early to make room.
    step = plan({new1.infohash: new1, new2.infohash: new2}, held, {}, 0.0, 100.0, cap=110)
    assert [s.key for s in step.add] == ["n1", "n2"] and step.remove == [old.infohash]
    # What does not fit even then is skipped, and said so.
    step = plan({new1.infohash: new1, new2.infohash: new2}, held, {}, 0.0, 100.0, cap=90)
    assert [s.key for s in step.add] == ["n1"] and [s.key for s in step.skipped] == ["n2"]
    assert step.remove == [old.infohash] and step.retiring == {}


def test_site_urls_and_references() -> None:
    assert site_urls("https://example.com/docs") == (
        "https://example.com/docs/",
        "https://example.com/docs/planktos/manifest.json",
    )
    assert site_urls("http://h:8/d/planktos/manifest.json?x#y") == (
        "http://h:8/d/",
        "http://h:8/d/planktos/manifest.json",
    )
    base = "https://example.com/docs/"
    trackers = ["planktos/tracker", "/t", "wss://t.example.org/", "/t", 5]
    assert resolve_trackers(trackers, base) == [
        "wss://example.com/docs/planktos/tracker",
        "wss://example.com/t",
        "wss://t.example.org/",
    ]
    assert stun_server({"ice_servers": []}) == ""
    ice = [{"urls": ["turn:x"]}, {"urls": "stun:stun.example.com:19302"}]
    assert stun_server({"ice_servers": ice}) == "stun.example.com:19302"
    assert stun_server({"ice_servers": [{"urls": "stun:s.example.com"}]}) == "s.example.com:3478"
    assert matches("docs/a.html", ["docs"]) and matches("docs/a.html", ["/docs/"])
    assert matches("docs/a.html", ["docs/a.html"]) and not matches("docsx/a.html", ["docs"])


def test_mirror_under_a_disk_cap_skips_what_does_not_fit(built_site: Path, tmp_path: Path) -> None:
    shards = build(built_site)
    small = {ih for ih, s in shards.items() if int(str(s["length"])) < 200 * 1024}
    assert small and len(small) < len(shards)
    with planktos_serve(built_site) as served:
        mirror = MirrorProcess(served.url, tmp_path / "mirror", "--max-disk", "200K")
        try:
            status = mirror.until_seeding(small)
        finally:
            assert mirror.stop() == 0, mirror.output()
    states = {r["infohash"]: (r["state"], r["note"]) for r in status["shards"]}
    for ih in set(shards) - small:
        assert states[ih] == ("skipped", "over the disk cap (--max-disk)"), states
        assert not (tmp_path / "mirror/shards" / ih).exists()


def test_libtorrent_is_imported_by_the_mirror_command_only() -> None:
    code = (
        "import sys, planktos.cli, planktos.mirror.run\n"
        "planktos.cli.make_parser().parse_args(['mirror', 'http://example.com/'])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code + "print('libtorrent' in sys.modules)"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("False"), proc.stdout + proc.stderr


def test_rate_limits_reach_the_libtorrent_session(tmp_path: Path) -> None:
    from planktos.cli import make_parser
    from planktos.mirror.swarm import Swarm

    args = make_parser().parse_args(
        ["mirror", "http://x/", "--upload-limit", "500K", "--download-limit", "2M"]
    )
    assert (args.upload_limit, args.download_limit) == (500 * 1024, 2 * 1024 * 1024)
    swarm = Swarm(
        tmp_path,
        upload_limit=args.upload_limit,
        download_limit=args.download_limit,
        listen="127.0.0.1:0",
    )
    try:
        settings = swarm.session.get_settings()
        assert settings["upload_rate_limit"] == 500 * 1024
        assert settings["download_rate_limit"] == 2 * 1024 * 1024
        assert not settings["enable_dht"] and not settings["enable_lsd"]
    finally:
        swarm.close()
