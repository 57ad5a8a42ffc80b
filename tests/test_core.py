"""Pure core: URL rules, content types, shard planning."""

from __future__ import annotations

import string
from urllib.parse import quote, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planktos.errors import InputError
from planktos.mime import content_type
from planktos.shards import GROUP_BYTES, LARGE_FILE, plan
from planktos.urls import (
    check_base_url,
    check_tracker_url,
    seed_path,
    seed_segment,
    tracker_for_base,
    url_path,
)
from planktos.walk import SiteFile

segments = st.text(min_size=1, max_size=12).filter(lambda s: "/" not in s and "\0" not in s)


@given(segments, segments)
def test_seed_segment_is_injective_and_safe(a: str, b: str) -> None:
    sa, sb = seed_segment(a), seed_segment(b)
    assert (sa == sb) == (a == b)
    assert set(sa) <= set(string.ascii_letters + string.digits + "._-~")
    assert sa not in (".", "..")
    # Clients that percent-encode (aria2) and clients that do not (WebTorrent) agree.
    assert quote(sa, safe="/~") == sa


@given(st.lists(segments, min_size=1, max_size=4))
def test_url_path_round_trips(parts: list[str]) -> None:
    rel = "/".join(parts)
    assert unquote(url_path(rel)) == rel
    assert not set(url_path(rel)) - set(string.ascii_letters + string.digits + "-._~/%")


def test_seed_path_keeps_plain_names() -> None:
    assert seed_path("css/site-1.min.css") == "css/site-1.min.css"
    assert seed_path("./..") == "~2E/~2E~2E"  # hypothesis found "." returned as is
    assert seed_path("a b/ü.txt") == "a~20b/~C3~BC.txt"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://example.com", "https://example.com/"),
        ("http://h:8/docs/", "http://h:8/docs/"),
        ("/docs", "/docs/"),
        ("ftp://x/", None),
        ("docs/", None),
        ("https://x/?q=1", None),
        ("https:///nohost", None),
        ("https://x/a b/", None),
    ],
)
def test_base_url(value: str, ok: str | None) -> None:
    if ok is None:
        with pytest.raises(InputError):
            check_base_url(value)
    else:
        assert check_base_url(value) == ok


def test_tracker_urls() -> None:
    assert check_tracker_url("wss://t.example/announce") == "wss://t.example/announce"
    assert check_tracker_url("/tracker") == "/tracker"
    for bad in ("http://t/", "udp://t:1", "tracker", "wss://"):
        with pytest.raises(InputError):
            check_tracker_url(bad)
    assert tracker_for_base("planktos/tracker", "https://a.b/docs/") == (
        "wss://a.b/docs/planktos/tracker"
    )
    assert tracker_for_base("/t", "http://a:8/x/") == "ws://a:8/t"
    assert tracker_for_base("planktos/tracker", None) is None
    assert tracker_for_base("planktos/tracker", "/docs/") is None


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("v.webm", "video/webm"),
        ("x.tar.gz", "application/gzip"),
        ("noext", "application/octet-stream"),
        ("pic.PNG", "image/png"),
        ("s.svg", "image/svg+xml"),
        ("t.torrent", "application/x-bittorrent"),
    ],
)
def test_content_type(name: str, kind: str) -> None:
    assert content_type(name) == kind


def files(names: list[str], size: int = 1000) -> list[SiteFile]:
    return [SiteFile(n, n, size, 0, i, 0) for i, n in enumerate(sorted(names))]


def groups(names: list[str]) -> dict[str, tuple[str, ...]]:
    return {s.key: tuple(f.rel for f in s.files) for s in plan(files(names))}


@given(
    st.sets(
        st.from_regex(r"[a-z]{1,3}/[a-z0-9]{1,6}\.html", fullmatch=True), min_size=1, max_size=300
    ),
    st.from_regex(r"[a-z]{1,3}/[a-z0-9]{1,6}\.html", fullmatch=True),
)
def test_adding_a_file_changes_at_most_two_shards(names: set[str], extra: str) -> None:
    before = set(groups(sorted(names)).items())
    after = set(groups(sorted(names | {extra})).items())
    assert len(after - before) <= 2
    assert len(before - after) <= 2


def test_large_files_get_their_own_shard_and_groups_are_bounded() -> None:
    small = files([f"p/{i:04}.html" for i in range(2000)], size=40_000)
    big = SiteFile("v.webm", "v.webm", LARGE_FILE, 0, 99_999, 0)
    shards = plan([*small, big])
    assert [s.files for s in shards if s.large] == [[big]]
    for s in shards:
        if not s.large:
            assert s.length < GROUP_BYTES + 40_000 and len(s.files) <= 256
            assert s.piece_length == 16 * 1024
    assert sum(len(s.files) for s in shards) == 2001
