"""planktos build: output layout, torrents checked byte for byte, manifest, shards, caching."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from planktos.bencode import decode
from planktos.build import BuildOptions, build
from planktos.cli import main
from planktos.manifest import read_full
from tests.conftest import write


def manifest_of(root: Path) -> dict[str, Any]:
    """The site's manifest with every table read and checked: the top level plus ``files``
    and ``shards`` of every leaf (the shape of manifest version 1)."""
    return read_full(root / "planktos/manifest.json")


def torrent_of(root: Path, shard: dict[str, Any]) -> dict[bytes, Any]:
    meta = decode((root / shard["torrent"]).read_bytes())
    assert isinstance(meta, dict)
    return meta


def verify_site(root: Path) -> dict[str, Any]:
    """Check every torrent's pieces and every manifest hash against the files on disk."""
    manifest = manifest_of(root)
    files_by_shard: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for url, entry in manifest["files"].items():
        data = (root / unquote(url)).read_bytes()
        assert len(data) == entry["length"]
        if "chunks" in entry:
            # A chunked file: SHA-256 per piece, named by the digest of those digests.
            pl = manifest["shards"][entry["shard"]]["piece_length"]
            chunks = [hashlib.sha256(data[i : i + pl]).digest() for i in range(0, len(data), pl)]
            assert [c.hex() for c in chunks] == entry["chunks"]
            assert hashlib.sha256(b"".join(chunks)).hexdigest() == entry["chunks_sha256"]
            assert "sha256" not in entry
        else:
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        if entry["length"] == 0:
            assert "shard" not in entry
            continue
        files_by_shard.setdefault(entry["shard"], []).append((url, entry))
    for key, shard in manifest["shards"].items():
        meta = torrent_of(root, shard)
        info = meta[b"info"]
        assert hashlib.sha1(encode_info(info)).hexdigest() == shard["infohash"]
        assert info[b"name"] == key.encode()
        if b"length" in info:  # single file: the web seed is the file itself
            (url, entry), *_ = files_by_shard[key]
            data = (root / unquote(url)).read_bytes()
            paths = [data]
        else:
            assert len(info[b"files"]) >= 2
            seed_dir = root / shard["webseed"] / key
            paths = [
                (seed_dir.joinpath(*(p.decode() for p in f[b"path"]))).read_bytes()
                for f in info[b"files"]
            ]
            for f in info[b"files"]:
                assert b"/" not in b"".join(f[b"path"])
        blob = b"".join(paths)
        size = info[b"piece length"]
        pieces = b"".join(
            hashlib.sha1(blob[i : i + size]).digest() for i in range(0, len(blob), size)
        )
        assert pieces == info[b"pieces"]
    return manifest


def encode_info(info: Any) -> bytes:
    from planktos.bencode import encode

    return encode(info)


def test_build_layout_and_hashes(site: Path) -> None:
    assert main(["build", "--root", str(site), "--quiet"]) == 0
    assert (site / "planktos.sw.js").is_file()
    manifest = verify_site(site)
    assert manifest["format"] == "planktos-manifest" and manifest["version"] == 2
    assert manifest["build"] in (site / "planktos.sw.js").read_text()
    assert manifest["trackers"] == ["planktos/tracker"] and manifest["base"] is None
    urls = set(manifest["files"])
    assert "a%20b%25%23%3F%C3%A9.txt" in urls and "about/index.html" in urls
    assert not any(u.startswith((".", "planktos")) or "/." in u for u in urls)
    assert manifest["files"]["empty.txt"] == {
        "length": 0,
        "sha256": hashlib.sha256(b"").hexdigest(),
        "type": "text/plain; charset=utf-8",
    }
    entry = manifest["files"]["media/clip.webm"]
    assert entry["type"] == "video/webm" and len(entry["chunks"]) > 1
    shard = manifest["shards"][entry["shard"]]
    assert shard["files"] == 1 and shard["webseed"] == "media/clip.webm"
    assert manifest["files"]["index.html"]["type"] == "text/html; charset=utf-8"
    # Torrents carry no web seed or tracker when the base URL is unknown.
    meta = torrent_of(site, shard)
    assert b"url-list" not in meta and b"announce" not in meta


def test_base_url_puts_web_seeds_and_trackers_in_torrents(site: Path) -> None:
    base = "https://example.org/docs/"
    assert main(["build", "--root", str(site), "--base-url", base, "--quiet"]) == 0
    manifest = verify_site(site)
    for shard in manifest["shards"].values():
        meta = torrent_of(site, shard)
        assert meta[b"url-list"] == [(base + shard["webseed"]).encode()]
        assert meta[b"announce"] == b"wss://example.org/docs/planktos/tracker"


def test_rebuild_is_identical_and_uses_the_cache(site: Path) -> None:
    first = build(BuildOptions(root=site))
    before = manifest_of(site)
    second = build(BuildOptions(root=site))
    assert manifest_of(site) == before and second.build == first.build
    assert first.hashed_bytes > 0
    # Files written just now are racily clean and not cached; age them to use the cache.
    for path in site.rglob("*"):
        if path.is_file() and "planktos" not in path.parts:
            os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    build(BuildOptions(root=site))
    assert build(BuildOptions(root=site)).hashed_bytes == 0


def test_one_file_edit_changes_only_its_shard(site: Path) -> None:
    build(BuildOptions(root=site))
    before = manifest_of(site)
    write(site, "blog/post-07.html", "<p>edited</p>")
    build(BuildOptions(root=site))
    after = verify_site(site)
    changed = {k for k, s in after["shards"].items() if before["shards"].get(k) != s}
    assert changed == {after["files"]["blog/post-07.html"]["shard"]}
    assert after["build"] != before["build"]


def test_large_file_shard_is_keyed_by_content(site: Path) -> None:
    build(BuildOptions(root=site))
    before = manifest_of(site)
    os.rename(site / "media/clip.webm", site / "media/moved.webm")
    write(site, "copy/clip.webm", (site / "media/moved.webm").read_bytes())
    build(BuildOptions(root=site))
    after = verify_site(site)
    old_shard = before["files"]["media/clip.webm"]["shard"]
    assert after["files"]["media/moved.webm"]["shard"] == old_shard
    assert after["files"]["copy/clip.webm"]["shard"] == old_shard
    assert after["shards"][old_shard]["infohash"] == before["shards"][old_shard]["infohash"]


@pytest.mark.parametrize("piece", ["16K", "256K", "1M"])
def test_piece_size_applies_to_every_shard(site: Path, piece: str) -> None:
    assert main(["build", "--root", str(site), "--piece-size", piece, "--quiet"]) == 0
    manifest = verify_site(site)
    size = {"16K": 16384, "256K": 262144, "1M": 1048576}[piece]
    assert {s["piece_length"] for s in manifest["shards"].values()} == {size}


@pytest.mark.parametrize("k", [-1, 0, 1])
def test_piece_edges(tmp_path: Path, k: int) -> None:
    """Files of piece size x n + k, laid end to end, hash right across piece boundaries."""
    root = tmp_path / "edges"
    for i in range(1, 4):
        write(root, f"f{i}.bin", os.urandom(16384 * i + k))
    assert main(["build", "--root", str(root), "--piece-size", "16K", "--quiet"]) == 0
    verify_site(root)


def test_paths_select_files_and_excludes_apply(site: Path) -> None:
    code = main(
        [
            "build",
            "--root",
            str(site),
            "--exclude",
            "*.txt",
            "--exclude",
            "blog/post-1*",
            "--quiet",
            str(site / "blog"),
            str(site / "index.html"),
        ]
    )
    assert code == 0
    urls = set(verify_site(site)["files"])
    assert "index.html" in urls and "blog/post-00.html" in urls
    assert "blog/post-10.html" not in urls and "css/style.css" not in urls


def test_summary_reports_each_skip(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (site / "outside").symlink_to("/etc/hostname")
    (site / "dangling").symlink_to(site / "nowhere")
    (site / "inside.css").symlink_to(site / "css/style.css")
    os.mkfifo(site / "pipe")
    assert main(["build", "--root", str(site)]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    for name in (".env", ".git", "docs/.hidden", "outside", "dangling", "pipe"):
        assert name in out
    assert "symlink leads outside the root: 1" in out and "not a regular file: 1" in out
    assert "inside.css" in manifest_of(site)["files"]


def test_uninstall_writes_the_kill_switch(site: Path) -> None:
    build(BuildOptions(root=site))
    assert main(["build", "--root", str(site), "--uninstall", "--quiet"]) == 0
    manifest = manifest_of(site)
    assert manifest["uninstalled"] is True and manifest["files"] == {}
    sw = (site / "planktos.sw.js").read_text()
    assert "unregister()" in sw and manifest["build"] in sw
    assert "register(" not in (site / "planktos/install.js").read_text().replace("unregister(", "")
    assert not list((site / "planktos/t").iterdir()) and not list((site / "planktos/w").iterdir())


def test_refuses_a_planktos_directory_it_did_not_write(site: Path) -> None:
    write(site, "planktos/mine.txt", "user content")
    assert main(["build", "--root", str(site), "--quiet"]) == 1
    assert (site / "planktos/mine.txt").read_text() == "user content"


def test_manifest_text_is_canonical_json_with_its_build_id(tmp_path: Path) -> None:
    """The manifest is encoded once: the file must still equal the canonical encoding."""
    from planktos.manifest import build_id, dumps

    (tmp_path / "a.txt").write_text("a\n")
    build(BuildOptions(root=tmp_path))
    text = (tmp_path / "planktos" / "manifest.json").read_text(encoding="utf-8")
    manifest = json.loads(text)
    assert text == dumps(manifest)
    assert manifest["build"] == build_id(manifest)


def test_runtime_settings_reach_the_manifest_and_change_the_build_id(site: Path) -> None:
    assert main(["build", "--root", str(site), "--quiet"]) == 0
    manifest_path = site / "planktos" / "manifest.json"
    before = json.loads(manifest_path.read_text())
    ice = '[{"urls": ["stun:stun.example.org:3478"], "username": "u", "credential": "c"}]'
    args = ["--runtime", "upload_kbps=500", "--runtime", "stats_interval_s=0"]
    args += ["--runtime", f"ice_servers={ice}", "--runtime", "upload_kbps=null"]  # last wins
    assert main(["build", "--root", str(site), "--quiet", *args]) == 0
    after = json.loads(manifest_path.read_text())
    assert after["runtime"] == before["runtime"] | {
        "upload_kbps": None,
        "stats_interval_s": 0,
        "ice_servers": json.loads(ice),
    }
    assert after["build"] != before["build"]  # browsers see a new worker with the settings
