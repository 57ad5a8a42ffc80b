"""The MkDocs plugin, run by the real ``mkdocs`` on a real project."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

from tests.generators import (
    LOGO,
    check_built,
    env,
    mkdocs,
    planktos_output,
    write_mkdocs_project,
)
from tests.servers import free_port
from tests.test_build import verify_site


def plugin(option: str) -> str:
    """``mkdocs.yml`` lines that use the plugin with one option."""
    return f"plugins:\n  - planktos:\n      {option}\n"


def test_build_publishes_the_site_under_site_url_path(tmp_path: Path) -> None:
    project = write_mkdocs_project(
        tmp_path / "project",
        """
        site_url: https://example.org/docs/
        plugins:
          - search
          - planktos
        """,
    )
    run = mkdocs(project, "build")
    assert run.returncode == 0, run.stderr
    assert re.search(r"INFO +- +planktos build: \d+ files .* injected into 5 pages", run.stderr)
    site = project / "site"
    manifest = check_built(site, "/docs/")
    files = manifest["files"]
    for page in ("index.html", "guide/index.html", "guide/install/index.html", "404.html"):
        assert page in files
    assert files["guide/deep/more/index.html"]["type"] == "text/html; charset=utf-8"
    assert (site / "img/logo.png").read_bytes() == LOGO and files["img/logo.png"]["shard"]
    assert len(files["files/data.bin"]["chunks"]) > 1  # a large file: its own shard
    assert "search/search_index.json" in files  # written by the search plugin's post_build
    assert manifest["trackers"] == ["planktos/tracker"]


def test_options(tmp_path: Path) -> None:
    project = write_mkdocs_project(
        tmp_path / "project",
        """
        plugins:
          - planktos:
              trackers: [wss://tracker.example.org/, /t]
              excludes: ["*.bin", "guide/deep/*"]
              piece_size: 64K
              jobs: 2
              inject: false
              runtime: {upload_kbps: 300, stats_interval_s: 0}
        """,
    )
    run = mkdocs(project, "build")
    assert run.returncode == 0, run.stderr
    manifest = verify_site(project / "site")
    assert manifest["base"] is None and manifest["trackers"] == ["wss://tracker.example.org/", "/t"]
    assert {s["piece_length"] for s in manifest["shards"].values()} == {64 * 1024}
    assert "files/data.bin" not in manifest["files"] and "guide/index.html" in manifest["files"]
    assert not any(url.startswith("guide/deep/") for url in manifest["files"])
    assert b"planktos/install.js" not in (project / "site/index.html").read_bytes()
    runtime = manifest["runtime"]
    assert runtime["upload_kbps"] == 300 and runtime["stats_interval_s"] == 0
    assert runtime["deadline_ms"] == 2500  # the defaults for what was not given


def test_enabled_false_and_the_kill_switch(tmp_path: Path) -> None:
    project = write_mkdocs_project(tmp_path / "p", plugin("enabled: false"))
    assert mkdocs(project, "build").returncode == 0
    assert planktos_output(project) == []
    (project / "mkdocs.yml").write_text(
        (project / "mkdocs.yml").read_text().replace("enabled: false", "uninstall: true")
    )
    assert mkdocs(project, "build").returncode == 0
    manifest = verify_site(project / "site")
    assert manifest["uninstalled"] is True
    assert planktos_output(project) == ["site/planktos", "site/planktos.sw.js"]  # no tags


BAD_CONFIG = {
    "unknown option": ("trakers: [wss://t.example/]", "option 'trakers': unknown option; known:"),
    "tracker not ws": ("trackers: [http://t.example/]", "'http://t.example/': invalid tracker"),
    "relative tracker": ("trackers: [tracker]", "'tracker': invalid tracker"),
    "trackers not a list": ("trackers: wss://t.example/", "expected a list of tracker URLs"),
    "no tracker": ("trackers: []", "no tracker"),
    "exclude not a list": ("excludes: '*.map'", "expected a list of globs"),
    "empty exclude": ("excludes: ['']", "empty exclude glob"),
    "bad piece size": ("piece_size: 100K", "'100K': invalid piece size"),
    "piece size type": ("piece_size: [1]", "expected a piece size"),
    "zero jobs": ("jobs: 0", "option 'jobs': 0: expected a whole number >= 1"),
    "unknown runtime setting": ("runtime: {uplod_kbps: 5}", "runtime.uplod_kbps: unknown runtime"),
    "runtime not a mapping": ("runtime: [1]", "runtime: expected a mapping"),
    "inject not a bool": ("inject: maybe", "option 'inject': 'maybe': expected true or false"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIG))
def test_bad_config_fails_the_build_with_one_line(tmp_path: Path, case: str) -> None:
    option, message = BAD_CONFIG[case]
    project = write_mkdocs_project(tmp_path / "p", plugin(option))
    run = mkdocs(project, "build")
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "Plugin 'planktos'" in errors[0], run.stderr
    assert message in errors[0]
    assert planktos_output(project) == []


def test_failed_planktos_build_fails_mkdocs_and_writes_nothing(tmp_path: Path) -> None:
    project = write_mkdocs_project(tmp_path / "p", plugin("excludes: ['*']"))
    run = mkdocs(project, "build")
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "planktos:" in errors[0] and "no files left" in errors[0]
    assert (project / "site/index.html").is_file()
    assert planktos_output(project) == []


def get(url: str) -> tuple[int, bytes]:
    try:
        with urlopen(url, timeout=5) as resp:
            return resp.status, resp.read()
    except HTTPError as err:
        return err.code, err.read()


def test_serve_stays_out_of_the_way(tmp_path: Path) -> None:
    """``mkdocs serve`` builds and rebuilds its temporary site without Planktos."""
    project = write_mkdocs_project(
        tmp_path / "p", "site_url: https://example.org/docs/\nplugins:\n  - planktos\n"
    )
    port = free_port()
    tmp = tmp_path / "tmp"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "serve", "-a", f"127.0.0.1:{port}", "-f", "mkdocs.yml"],
        cwd=project,
        env=env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/docs/"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = get(url)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "mkdocs serve died"
                time.sleep(0.2)
        assert status == 200 and b'<h1 id="home">Home</h1>' in body
        assert b"planktos/install.js" not in body
        assert get(url + "planktos.sw.js")[0] == 404
        # A change is rebuilt into the same temporary directory, still without Planktos.
        (project / "docs/index.md").write_text("# Changed\n", encoding="utf-8")
        while b"Changed" not in get(url)[1]:
            assert time.monotonic() < deadline, "mkdocs serve did not rebuild"
            time.sleep(0.2)
        (served,) = tmp.glob("mkdocs_*")
        assert (served / "index.html").is_file() and (served / "guide/install/index.html").is_file()
        assert planktos_output(served) == []
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=20)
    assert output.count("planktos: skipped under mkdocs serve") == 2, output
    assert "ERROR" not in output and "planktos build:" not in output
