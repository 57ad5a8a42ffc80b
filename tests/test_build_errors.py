"""Bad input to planktos build: one-line error, non-zero exit, nothing written or changed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from planktos.build import BuildOptions, build
from planktos.cli import main
from planktos.errors import BuildError
from tests.conftest import write


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every path under root with its content (or link target)."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                out[rel] = path.read_bytes()
            else:
                out[rel] = "dir"
    return out


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        code = main(args)
    except SystemExit as exc:  # argparse errors
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    return code, err


Setup = Callable[[Path], list[str]]

CASES: dict[str, tuple[Setup, str]] = {
    "path does not exist": (lambda r: ["--root", str(r), str(r / "nope")], "does not exist"),
    "path outside root": (lambda r: ["--root", str(r / "blog"), str(r / "index.html")], "outside"),
    "root is a file": (lambda r: ["--root", str(r / "index.html")], "not a directory"),
    "root missing": (lambda r: ["--root", str(r / "missing")], "does not exist"),
    "everything excluded": (lambda r: ["--root", str(r), "--exclude", "*"], "no files left"),
    "bad base url": (lambda r: ["--root", str(r), "--base-url", "ftp://x/"], "--base-url"),
    "relative base url": (lambda r: ["--root", str(r), "--base-url", "docs/"], "--base-url"),
    "bad tracker": (lambda r: ["--root", str(r), "--tracker", "http://t/"], "--tracker"),
    "bad piece size": (lambda r: ["--root", str(r), "--piece-size", "1000"], "piece size"),
    "tiny piece size": (lambda r: ["--root", str(r), "--piece-size", "8K"], "piece size"),
    "bad jobs": (lambda r: ["--root", str(r), "--jobs", "0"], "invalid count"),
    "unknown runtime setting": (
        lambda r: ["--root", str(r), "--runtime", "upload=5"],
        "--runtime.upload: unknown runtime setting; known: deadline_ms",
    ),
    "runtime value not json": (
        lambda r: ["--root", str(r), "--runtime", "upload_kbps=fast"],
        "the value must be JSON",
    ),
    "runtime without value": (
        lambda r: ["--root", str(r), "--runtime", "upload_kbps"],
        "expected NAME=VALUE",
    ),
    "runtime value out of range": (
        lambda r: ["--root", str(r), "--runtime", "stats_interval_s=5"],
        "--runtime.stats_interval_s=5: expected 0 (no reports) or at least 10 seconds",
    ),
    "runtime bool as number": (
        lambda r: ["--root", str(r), "--runtime", "upload_on_metered=1"],
        "expected true or false",
    ),
    "runtime bad ice server": (
        lambda r: ["--root", str(r), "--runtime", 'ice_servers=[{"urls": "http://x/"}]'],
        "must start with stun:, turn: or turns:",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(site: Path, case: str, capsys: pytest.CaptureFixture[str]) -> None:
    setup, expected = CASES[case]
    assert main(["build", "--root", str(site), "--quiet"]) == 0
    before = snapshot(site)
    code, err = run_cli(["build", *setup(site)], capsys)
    assert code != 0
    assert expected in err
    assert err.count("\n") == 1, err
    assert snapshot(site) == before


@pytest.mark.parametrize("kind", ["two links", "link to ancestor"])
def test_symlink_loop(site: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    if kind == "two links":
        (site / "a").symlink_to(site / "b")
        (site / "b").symlink_to(site / "a")
    else:
        (site / "blog/up").symlink_to(site)
    before = snapshot(site)
    code, err = run_cli(["build", "--root", str(site)], capsys)
    assert code == 1 and "symlink loop" in err and err.count("\n") == 1
    assert snapshot(site) == before


def test_unreadable_file(tmp_path: Path) -> None:
    root = tmp_path / "site"
    write(root, "index.html", "x")
    write(root, "private/secret.html", "x").chmod(0)
    args = [sys.executable, "-m", "planktos", "build", "--root", str(root)]
    if os.geteuid() == 0:  # root reads anything: run the build as nobody, in a dir it can use
        if not shutil.which("setpriv"):
            pytest.fail("setpriv (util-linux) is needed to test unreadable files as root")
        shared = Path(tempfile.mkdtemp(prefix="planktos-unreadable-", dir="/tmp"))
        shared.chmod(0o755)
        root = Path(shutil.move(root, shared / "site"))
        for path in [shared, root, *root.rglob("*")]:
            os.chown(path, 65534, 65534)
        args = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *args[:-1]]
        args.append(str(root))
    env = dict(os.environ, PLANKTOS_CACHE_DIR=str(root.parent / "cache"))
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "private/secret.html" in proc.stderr and "not readable" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert not (root / "planktos").exists()
    if os.geteuid() == 0:
        shutil.rmtree(root.parent)


def test_unreachable_root(tmp_path: Path) -> None:
    """A root the user may not enter is a one-line error too, not a traceback."""
    if os.geteuid() != 0:
        root = tmp_path / "closed"
        root.mkdir(mode=0)
        args = [sys.executable, "-m", "planktos", "build", "--root", str(root)]
    else:
        args = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-m",
            "planktos",
            "build",
            "--root",
            str(tmp_path),
        ]  # tmp_path is 0700 root's
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "Permission denied" in proc.stderr and proc.stderr.count("\n") == 1


class _Mutator:
    """A progress sink that appends to a file after its first block was hashed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done = False

    def start(self, files: int, total_bytes: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        if not self.done:
            self.done = True
            with self.path.open("ab") as f:
                f.write(b"late write")


def test_file_changing_while_hashed_is_detected(site: Path) -> None:
    build(BuildOptions(root=site))
    before = snapshot(site)
    big = write(site, "media/growing.bin", os.urandom(3 * 1024 * 1024))
    with pytest.raises(BuildError, match="changed while being hashed"):
        build(BuildOptions(root=site, jobs=1), _Mutator(big))
    big.unlink()
    assert snapshot(site) == before


def test_killed_build_leaves_previous_output(site: Path) -> None:
    build(BuildOptions(root=site))
    before = snapshot(site)
    big = site / "media/huge.bin"
    with big.open("wb") as f:  # sparse: cheap to write, slow enough to hash
        f.truncate(3 * 1024**3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "planktos", "build", "--root", str(site), "--jobs", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)
    assert proc.poll() is None, "the build ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    big.unlink()
    assert snapshot(site) == before
    build(BuildOptions(root=site))
    assert snapshot(site) == before


@pytest.mark.parametrize("dies_at", ["torrent", "table", "install.js", "manifest.json"])
def test_build_dying_while_writing_leaves_a_consistent_site(
    site: Path, dies_at: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build dying at any write before the commit leaves the old output whole."""
    from planktos import output
    from tests.test_build import verify_site

    build(BuildOptions(root=site))
    for i in range(40):
        write(site, f"blog/post-{i:02}.html", f"<p>new {i}</p>")
    if dies_at == "install.js":
        # One from another release, so that this build rewrites it (an unchanged one is left
        # alone).
        write(site, "planktos/install.js", "// older")
    before = snapshot(site)
    real = output.Output._replace

    def dying(self: output.Output, path: Path, data: bytes) -> None:
        if path.name.endswith(dies_at) or (dies_at == "table" and path.parent.name == "i"):
            raise KeyboardInterrupt
        real(self, path, data)

    monkeypatch.setattr(output.Output, "_replace", dying)
    with pytest.raises(KeyboardInterrupt):
        build(BuildOptions(root=site))
    monkeypatch.undo()
    after = snapshot(site)
    assert after["planktos/manifest.json"] == before["planktos/manifest.json"]
    assert after["planktos.sw.js"] == before["planktos.sw.js"]
    for rel, content in before.items():
        # A file's precompressed copies go before it is replaced (output.py): none is better
        # than one from another build.
        gone = rel.endswith((".br", ".gz")) and rel not in after
        assert after.get(rel) == content or gone, rel
    build(BuildOptions(root=site))
    verify_site(site)
    assert not [rel for rel in snapshot(site) if ".tmp-" in rel]


def test_interrupted_build_cleans_up(site: Path) -> None:
    build(BuildOptions(root=site))
    before = snapshot(site)
    big = site / "media/huge.bin"
    with big.open("wb") as f:
        f.truncate(3 * 1024**3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "planktos", "build", "--root", str(site), "--jobs", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    assert proc.poll() is None, "the build ended before it could be interrupted"
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - started < 5, "hashing threads did not stop"
    big.unlink()
    assert proc.returncode == 130 and "interrupted" in err
    assert snapshot(site) == before
