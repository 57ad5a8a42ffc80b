"""Deployments as the README writes them, and as users get them wrong, checked by
``planktos check`` from outside: planktos serve, Debian's nginx and Caddy with the README's
configurations, nginx with each mistake a new user makes, and ``python3 -m http.server``.

Each broken deployment must fail exactly the areas it breaks, so a check that reports
everything, or nothing, fails these tests.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from planktos.cli import main
from planktos.server.run import base_note
from tests.deploy import caddy, nginx, readme_block, wait_listening, without_location
from tests.servers import free_port, planktos_serve

ROOT_NGINX = "location = /planktos/tracker"
SUB_NGINX = "location = /docs/planktos/tracker"


def write_site(root: Path) -> None:
    """A small site: pages with <head>, styles, a group of small files, a large file."""
    head = '<!doctype html><html><head><meta charset="utf-8"><title>{}</title></head>'
    for name in ("index.html", "guide/index.html", "guide/install.html", "blog/one.html"):
        page = root / name
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(head.format(name) + f"<body><h1>{name}</h1></body></html>\n")
    (root / "css").mkdir()
    (root / "css/site.css").write_text("body { color: teal }\n" * 200)
    (root / "notes").mkdir()
    for i in range(30):
        (root / f"notes/n{i:02}.txt").write_text(f"note {i}\n" * (50 + 37 * i))
    (root / "media").mkdir()
    (root / "media/big.bin").write_bytes(os.urandom(1_300_000))


def build(root: Path, *args: str) -> str:
    """``planktos build --root ROOT ARGS``; returns what it printed (fails the test on error).

    The hash cache goes beside the site (module fixtures build before the per-test cache is set).
    """
    env = {**os.environ, "PLANKTOS_CACHE_DIR": str(root.parent / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "planktos", "build", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deploy") / "site"
    write_site(root)
    return root


@pytest.fixture(scope="module")
def built_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deploy-built") / "site"
    write_site(root)
    build(root, "--inject", "--quiet")
    return root


@pytest.fixture
def site(built_template: Path, tmp_path: Path) -> Path:
    """A copy of the site built with --inject (as a site owner is told to)."""
    return Path(shutil.copytree(built_template, tmp_path / "www" / "site"))


@pytest.fixture
def sub_site(template: Path, tmp_path: Path) -> Path:
    """The site built for /docs/, in www/docs/."""
    root = Path(shutil.copytree(template, tmp_path / "www" / "docs"))
    build(root, "--inject", "--base-url", "/docs/", "--quiet")
    return root


def check(url: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    """Run ``planktos check URL --json``; returns the exit status and the report."""
    capsys.readouterr()
    status = main(["check", url, "--json", *args])
    out = capsys.readouterr().out
    print(out)
    return status, json.loads(out)


def problems(report: dict[str, Any], level: str = "error") -> set[str]:
    """The areas with findings of ``level``."""
    return {f["area"] for f in report["findings"] if f["level"] == level}


def assert_clean(status: int, report: dict[str, Any]) -> None:
    bad = [f for f in report["findings"] if f["level"] != "ok"]
    assert status == 0 and not bad, json.dumps(bad, indent=1)


def test_planktos_serve_passes_every_check(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with planktos_serve(site) as served:
        assert_clean(*check(served.url, capsys, "--strict"))
        capsys.readouterr()
        assert main(["check", served.url]) == 0
        text = capsys.readouterr().out
    assert text.splitlines()[0].startswith(f"planktos check {served.url} (build ")
    assert text.splitlines()[-1] == "0 errors, 0 warnings"
    for area in ("manifest", "worker", "install.js", "agent", "web seeds", "tracker", "pages"):
        assert f"ok      {area}: " in text


def test_planktos_serve_base_url_passes_every_check(
    sub_site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with planktos_serve(sub_site, "--base-url", "/docs/") as served:
        assert served.url.endswith("/")
        assert_clean(*check(served.url + "docs/", capsys, "--strict"))


def test_readme_nginx_passes_every_check(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with planktos_serve(site) as served:
        config = readme_block("nginx", ROOT_NGINX)
        with nginx(config, site, tmp_path / "nginx", served.port) as url:
            assert_clean(*check(url, capsys, "--strict"))


def test_readme_nginx_sub_path_passes_every_check(
    sub_site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with planktos_serve(sub_site) as served:
        config = readme_block("nginx", SUB_NGINX)
        with nginx(config, sub_site.parent, tmp_path / "nginx", served.port) as url:
            assert_clean(*check(url + "docs/", capsys, "--strict"))


def test_readme_caddy_passes_every_check(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        planktos_serve(site) as served,
        caddy(readme_block("caddy"), site, tmp_path / "caddy", served.port) as url,
    ):
        assert_clean(*check(url, capsys, "--strict"))


def _drop(*locations: str) -> object:
    def edit(config: str) -> str:
        for location in locations:
            config = without_location(config, location)
        return config

    return edit


def _bare_sub_path_proxy(config: str) -> str:
    """The obvious adaptation of the root snippet: the prefix passed on to planktos serve."""
    return config.replace("http://127.0.0.1:8080/planktos/tracker", "http://127.0.0.1:8080")


def _no_types(config: str) -> str:
    """A server block that forgot ``include mime.types``: every file is a download."""
    return "types { }\ndefault_type application/octet-stream;\n" + config


def _worker_redirected(config: str) -> str:
    """planktos.sw.js moved behind a redirect, which browsers refuse for a service worker."""
    line = next(x for x in config.splitlines() if x.startswith("location = /planktos.sw.js"))
    return config.replace(line, "location = /planktos.sw.js { return 302 /planktos/sw.js; }")


def _no_ranges(config: str) -> str:
    """A host without Range support: nginx answers every request with the whole file."""
    return "max_ranges 0;\n" + config


def _metadata_uncompressed(config: str) -> str:
    """Torrents and tables served without their gzip copies (the README before they existed)."""
    for where in ("/planktos/t/", "/planktos/i/"):
        config = config.replace(
            f"location {where} {{ gzip_static on; gzip_vary on;", f"location {where} {{"
        )
    return config


@pytest.mark.parametrize(
    ("edit", "sub", "broken"),
    [
        pytest.param(_drop(ROOT_NGINX), False, {"tracker"}, id="no tracker location"),
        pytest.param(_bare_sub_path_proxy, True, {"tracker"}, id="tracker proxied to a 404"),
        pytest.param(
            _drop("location = /planktos/stats", "location = /planktos/dashboard"),
            False,
            {"stats"},
            id="stats not proxied",
        ),
        pytest.param(
            _drop("location = /planktos/install.js"), False, {"install.js"}, id="install.js cached"
        ),
        pytest.param(_no_types, False, {"worker", "install.js", "agent"}, id="no mime.types"),
        pytest.param(_no_ranges, False, {"web seeds"}, id="Range turned off"),
        pytest.param(_worker_redirected, False, {"worker"}, id="worker redirected"),
    ],
)
def test_nginx_mistakes_fail_their_area_only(
    edit: object,
    sub: bool,
    broken: set[str],
    site: Path,
    sub_site: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert callable(edit)
    root = sub_site if sub else site
    config = edit(readme_block("nginx", SUB_NGINX if sub else ROOT_NGINX))
    with (
        planktos_serve(root) as served,
        nginx(config, root.parent if sub else root, tmp_path / "nginx", served.port) as url,
    ):
        status, report = check(url + ("docs/" if sub else ""), capsys)
    assert status == 1
    assert problems(report) == broken


def test_nginx_without_metadata_copies_warns(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Uncompressed tables and torrents work, but cost each visitor more: a warning."""
    config = _metadata_uncompressed(readme_block("nginx", ROOT_NGINX))
    with (
        planktos_serve(site) as served,
        nginx(config, site, tmp_path / "nginx", served.port) as url,
    ):
        status, report = check(url, capsys)
    assert status == 0
    assert problems(report) == set()
    # This small site's file index is inline in its manifest; its one table (the info hashes)
    # is under the 1 kB below which check does not ask for compression.
    assert problems(report, "warning") == {"torrents"}


def test_nginx_site_built_without_inject(
    template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(shutil.copytree(template, tmp_path / "site"))
    printed = build(root)
    assert "warning: no page loads planktos/install.js" in printed
    with (
        planktos_serve(root) as served,
        nginx(readme_block("nginx", ROOT_NGINX), root, tmp_path / "nginx", served.port) as url,
    ):
        status, report = check(url, capsys)
    assert status == 1 and problems(report) == {"pages"}
    [finding] = [f for f in report["findings"] if f["level"] == "error"]
    assert "none of the" in finding["problem"] and "--inject" in finding["fix"]


def test_nginx_site_built_for_another_base_url(
    template: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(shutil.copytree(template, tmp_path / "site"))
    build(root, "--inject", "--base-url", "/docs/", "--quiet")
    with (
        planktos_serve(root) as served,
        nginx(readme_block("nginx", ROOT_NGINX), root, tmp_path / "nginx", served.port) as url,
    ):
        status, report = check(url, capsys)
    assert status == 1 and problems(report) == {"base-url", "pages"}
    fixes = " ".join(f["fix"] for f in report["findings"] if f["level"] == "error")
    assert "--base-url /" in fixes
    # ...and checked at the sub-path it was built for, the pages are not there.
    with (
        planktos_serve(root) as served,
        nginx(readme_block("nginx", ROOT_NGINX), root, tmp_path / "nginx2", served.port) as url,
    ):
        status, report = check(url + "docs/", capsys)
    assert status == 1 and problems(report) == {"manifest", "base-url"}


def test_http_server_without_range(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    log = site.parent / "http.server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            cwd=site,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_listening(port, proc, log)
        status, report = check(f"http://127.0.0.1:{port}/", capsys)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert status == 1
    assert problems(report) == {"manifest", "worker", "install.js", "web seeds", "tracker", "stats"}
    assert problems(report, "warning") >= {"agent", "torrents"}
    [ranges] = [f for f in report["findings"] if f["area"] == "web seeds"]
    assert "with 200 and the whole file" in ranges["problem"]
    assert "python3 -m http.server does not" in ranges["fix"]


def test_tracker_that_serves_another_site(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("another site\n")
    build(other, "--quiet")
    with planktos_serve(other) as tracker:
        ws = tracker.url.replace("http://", "ws://") + "planktos/tracker"
        build(site, "--inject", "--tracker", ws, "--quiet")
        with planktos_serve(site) as served:
            status, report = check(served.url, capsys)
    assert status == 1 and problems(report) == {"tracker"}
    [finding] = [f for f in report["findings"] if f["area"] == "tracker"]
    assert finding["url"] == ws and "refuses info hash" in finding["problem"]


def test_bad_url_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check", "ftp://example.com/"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ftp://example.com/" in err and "invalid URL" in err


def test_site_that_does_not_answer(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    assert main(["check", url]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"error   site: {url}: no answer (cannot connect")
    assert lines[-1] == "1 error, 0 warnings"


def test_make_dist_wheel_stands_alone(tmp_path: Path) -> None:
    """``make dist`` writes a wheel that carries the runtime and builds a site without Node."""
    repo = Path(__file__).resolve().parents[1]
    dist = tmp_path / "dist"
    proc = subprocess.run(
        ["make", "-s", "-C", str(repo), "dist", f"DIST={dist}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [wheel] = dist.glob("planktos-*.whl")
    assert len(list(dist.glob("planktos-*.tar.gz"))) == 1
    target = tmp_path / "installed"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", "install"]
    subprocess.run(
        [*pip, "--no-deps", "--no-index", "--target", str(target), str(wheel)], check=True
    )
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<html><head></head><body>hi</body></html>")
    env = {"PYTHONPATH": str(target), "PATH": "", "PLANKTOS_CACHE_DIR": str(tmp_path / "c")}
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import planktos.cli, sys; print(planktos.cli.__file__); "
            "sys.exit(planktos.cli.main(['build', '--root', sys.argv[1], '--inject']))",
            str(site),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith(str(target)), run.stdout  # the wheel's planktos, not src/
    agents = list((site / "planktos").glob("agent.*.js"))
    assert len(agents) == 1 and (site / "planktos.sw.js").is_file()
    assert b"planktos/install.js" in (site / "index.html").read_bytes()


def _head(url: str) -> tuple[int, str]:
    """Status and Location of a GET, redirects not followed."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", parts.path)
        resp = conn.getresponse()
        resp.read()
        return resp.status, resp.getheader("Location") or ""
    finally:
        conn.close()


def test_serve_base_url_serves_the_site_under_the_path(sub_site: Path) -> None:
    with planktos_serve(sub_site, "--base-url", "/docs/") as served:
        root = served.url
        assert _head(root + "docs/") == (200, "")
        assert _head(root + "docs/guide/install.html") == (200, "")
        assert _head(root + "docs/guide") == (301, "/docs/guide/")
        assert _head(root) == (302, "/docs/")
        assert _head(root + "docs") == (302, "/docs/")
        assert _head(root + "guide/install.html")[0] == 404
        assert _head(root + "planktos/manifest.json")[0] == 404
        assert _head(root + "docs/planktos/stats")[0] == 200
        assert _head(root + "planktos/stats")[0] == 404


def test_serve_notes_a_site_built_for_another_path() -> None:
    assert base_note({"base": "/docs/"}, "/docs/") == ""
    assert base_note({"base": "https://example.com/docs/"}, "/docs/") == ""
    assert base_note({"base": None}, "/") == ""
    note = base_note({"base": "/docs/"}, "/")
    assert note.startswith("planktos serve: note: the site was built for /docs/, served at /;")
    assert "--base-url /docs/" in note
    assert "no --base-url" in base_note({"base": None}, "/docs/")
    assert base_note({"uninstalled": True}, "/docs/") == base_note(None, "/") == ""


def test_serve_base_url_is_checked() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "planktos", "serve", ".", "--base-url", "docs"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "docs: invalid --base-url" in proc.stderr


def test_site_with_manifest_tables_and_no_root_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Enough pages that the manifest's file tree is in tables the check must read (and
    verify); no index.html, so the site's root is no page to check."""
    root = tmp_path / "site"
    for i in range(600):
        page = root / f"s{i // 100}" / f"p{i:03}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f"<html><head><title>{i}</title></head><body>{'x' * (i % 500)}</body>")
    build(root, "--inject", "--quiet", "--runtime", "stats_interval_s=0")
    assert list((root / "planktos/i").glob("*.json"))
    with planktos_serve(root) as served:
        status, report = check(served.url, capsys, "--strict")
    assert_clean(status, report)
    lines = {f["area"]: f["problem"] for f in report["findings"]}
    assert lines["stats"] == "reports off (stats_interval_s=0)"
    assert lines["pages"] == "9 pages checked load planktos/install.js"
    assert " files in 3 leaves read" in lines["tables"]


def test_site_built_for_another_origin(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build(site, "--inject", "--base-url", "http://127.0.0.1:1/", "--quiet")
    with planktos_serve(site) as served:
        status, report = check(served.url, capsys)
    assert status == 1 and problems(report) == {"base-url"}
    found = [f for f in report["findings"] if f["level"] == "error"]
    assert any("another origin" in f["problem"] for f in found)  # the manifest's base
    assert any("names the web seed http://127.0.0.1:1/" in f["problem"] for f in found)


def test_worker_from_another_build(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    worker = site / "planktos.sw.js"
    text = worker.read_text(encoding="utf-8")
    worker.write_text(re.sub(r"PLANKTOS_BUILD=[0-9a-f]{16}", "PLANKTOS_BUILD=" + "0" * 16, text))
    (site / "planktos.sw.js.gz").unlink()  # or the server sends the built one
    with planktos_serve(site) as served:
        status, report = check(served.url, capsys)
    assert status == 1 and problems(report) == {"worker"}
    [finding] = [f for f in report["findings"] if f["level"] == "error"]
    assert finding["problem"].startswith("is from build 0000000000000000, the manifest from")


def test_files_changed_after_the_build(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files edited in place (their web seed hard links change too) serve bytes the torrents
    and the manifest do not match."""
    for rel in ("media/big.bin", "notes/n00.txt"):
        path = site / rel
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        with open(path, "r+b") as f:  # same inode: the web seed tree's link sees it
            f.write(data)
    with planktos_serve(site) as served:
        status, report = check(served.url, capsys)
    assert status == 1 and problems(report) == {"web seeds"}
    text = " ".join(f["problem"] for f in report["findings"] if f["level"] == "error")
    assert "serves other bytes than the build published" in text  # big.bin's last piece
    assert "differs from the file the build hashed" in text  # n00.txt's SHA-256


@pytest.mark.parametrize(
    ("pages", "warned"),
    [
        ({"index.html": "<html><head></head><body>plain</body></html>"}, True),
        ({"a.html": "<head><script src='/planktos/install.js' async></script></head>"}, False),
        ({"notes.txt": "no page at all"}, False),
    ],
    ids=["no page has the tag", "a page has it", "no HTML page"],
)
def test_build_warns_when_no_page_loads_install_js(
    pages: dict[str, str], warned: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    for name, text in pages.items():
        (root / name).write_text(text)
    assert main(["build", "--root", str(root)]) == 0
    err = capsys.readouterr().err
    assert ("warning: no page loads planktos/install.js" in err) == warned
    if warned:
        assert err.count("\n") == 1 and '<script src="/planktos/install.js" async>' in err
    assert main(["build", "--root", str(root), "--inject"]) == 0  # fixes what it can
    assert "warning" not in capsys.readouterr().err
