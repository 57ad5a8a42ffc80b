"""The Sphinx extension, run by the real ``sphinx-build`` on a real project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.generators import LOGO, check_built, planktos_output, sphinx, write_sphinx_project
from tests.test_build import verify_site

PAGES = {
    "html": ("index.html", "guide/index.html", "guide/install.html", "guide/deep/more.html"),
    "dirhtml": ("index.html", "guide/index.html", "guide/install/index.html"),
    "singlehtml": ("index.html",),
}


@pytest.mark.parametrize("builder", sorted(PAGES))
def test_website_builders_publish_the_site(tmp_path: Path, builder: str) -> None:
    project = write_sphinx_project(tmp_path / "src", 'html_baseurl = "https://example.org/docs/"\n')
    out = tmp_path / "out"
    run = sphinx(project, builder, out)
    assert run.returncode == 0, run.stderr
    assert re.search(r"^planktos build: \d+ files .* injected into \d+ pages", run.stdout, re.M)
    manifest = check_built(out, "/docs/")
    files = manifest["files"]
    assert all(page in files for page in PAGES[builder])
    assert "favicon.ico" in files and manifest["trackers"] == ["planktos/tracker"]
    (logo,) = (url for url in files if url.endswith("logo.png"))
    assert (out / logo).read_bytes() == LOGO
    if builder != "singlehtml":  # singlehtml has no page linking the download
        (data,) = (url for url in files if url.endswith("data.bin"))
        assert len(files[data]["chunks"]) > 1


def test_other_builders_are_left_alone(tmp_path: Path) -> None:
    project = write_sphinx_project(tmp_path / "src", "")
    run = sphinx(project, "text", tmp_path / "out")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out/index.txt").is_file()
    assert planktos_output(tmp_path / "out") == []


def test_options(tmp_path: Path) -> None:
    project = write_sphinx_project(
        tmp_path / "src",
        """
        planktos_trackers = ["wss://tracker.example.org/", "/t"]
        planktos_excludes = ["*.bin", "_sources"]
        planktos_piece_size = "64K"
        planktos_jobs = 2
        planktos_inject = False
        planktos_runtime = {"max_seeded": 5}
        """,
    )
    out = tmp_path / "out"
    run = sphinx(project, "html", out)
    assert run.returncode == 0, run.stderr
    manifest = verify_site(out)
    assert manifest["base"] is None and manifest["trackers"] == ["wss://tracker.example.org/", "/t"]
    assert {s["piece_length"] for s in manifest["shards"].values()} == {64 * 1024}
    assert not any(url.endswith(".bin") or url.startswith("_sources/") for url in manifest["files"])
    assert b"planktos/install.js" not in (out / "index.html").read_bytes()
    assert manifest["runtime"]["max_seeded"] == 5
    # -D overrides conf.py, as for any Sphinx option.
    off = tmp_path / "off"
    assert sphinx(project, "html", off, "-D", "planktos_enabled=0").returncode == 0
    assert (off / "index.html").is_file() and planktos_output(off) == []


BAD_CONFIG = {
    "unknown option": ("planktos_trakers = []", "planktos_trakers: unknown option; known:"),
    "tracker not ws": ('planktos_trackers = ["http://t/"]', "'http://t/': invalid tracker"),
    "trackers not a list": ('planktos_trackers = "wss://t/"', "expected a list of tracker URLs"),
    "no tracker": ("planktos_trackers = []", "planktos_trackers: []: no tracker"),
    "exclude not a list": ('planktos_excludes = "*.map"', "planktos_excludes: '*.map': expected"),
    "bad piece size": ('planktos_piece_size = "3M"', "planktos_piece_size: '3M': invalid piece"),
    "jobs as text": ('planktos_jobs = "2"', "planktos_jobs: '2': expected a whole number"),
    "bool as text": ('planktos_uninstall = "yes"', "planktos_uninstall: 'yes': expected true"),
    "bad runtime value": ('planktos_runtime = {"deadline_ms": 5}', "deadline_ms=5: expected a"),
    "relative base": ('html_baseurl = "docs/"', "html_baseurl: 'docs/': invalid html_baseurl"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIG))
def test_bad_config_fails_the_build_with_one_line(tmp_path: Path, case: str) -> None:
    option, message = BAD_CONFIG[case]
    project = write_sphinx_project(tmp_path / "src", option + "\n")
    out = tmp_path / "out"
    run = sphinx(project, "html", out)
    assert run.returncode == 2
    assert "Configuration error!" in run.stderr
    (line,) = (line for line in run.stderr.splitlines() if "ConfigError:" in line)
    assert message in line, run.stderr
    assert not (out / "index.html").exists() and planktos_output(tmp_path) == []


def test_failed_sphinx_build_does_not_run_planktos(tmp_path: Path) -> None:
    project = write_sphinx_project(
        tmp_path / "src",
        """
        def setup(app):
            def fail(app, pagename, templatename, context, doctree):
                if pagename == "genindex":  # written after every document
                    raise RuntimeError("this build fails")

            app.connect("html-page-context", fail)
        """,
    )
    out = tmp_path / "out"
    run = sphinx(project, "html", out)
    assert run.returncode == 2 and "this build fails" in run.stderr
    assert (out / "guide/deep/more.html").is_file()
    assert planktos_output(tmp_path) == []


def test_failed_planktos_build_fails_sphinx_and_writes_nothing(tmp_path: Path) -> None:
    project = write_sphinx_project(tmp_path / "src", 'planktos_excludes = ["*"]\n')
    out = tmp_path / "out"
    run = sphinx(project, "html", out)
    assert run.returncode == 2 and "Extension error!" in run.stderr
    (line,) = (line for line in run.stderr.splitlines() if "ExtensionError:" in line)
    assert "planktos: " in line and "no files left" in line
    assert (out / "index.html").is_file() and planktos_output(tmp_path) == []


def test_incremental_rebuild_keeps_the_previous_torrents(tmp_path: Path) -> None:
    """Sphinx keeps its output directory between builds; so does Planktos's output."""
    project = write_sphinx_project(tmp_path / "src", "")
    out = tmp_path / "out"
    assert sphinx(project, "html", out).returncode == 0
    first = check_built(out, None)
    with (project / "guide/install.rst").open("a", encoding="utf-8") as page:
        page.write("\nA new paragraph.\n")
    run = sphinx(project, "html", out)
    assert run.returncode == 0, run.stderr
    # Visitors still on the first build keep its torrents (until the build after next).
    assert all((out / s["torrent"]).is_file() for s in first["shards"].values())
    assert check_built(out, None)["build"] != first["build"]
