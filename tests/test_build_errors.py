"""Bad input to planktos build: one-line error, non-zero exit, nothing written or changed."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from planktos.build import BuildOptions, build
from planktos.cli import main
from planktos.errors import BuildError, InputError
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


@pytest.mark.parametrize(
    "dies_at",
    ["torrent", "table", "agent", "install.js", "manifest.json", "planktos.sw.js", "page"],
)
@pytest.mark.parametrize("fresh", [False, True], ids=["rebuild", "first build"])
def test_build_dying_while_writing_changes_nothing(
    site: Path, dies_at: str, fresh: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build interrupted at any write leaves the site exactly as it was (on a first build:
    no planktos/ at all), and the next build works."""
    from planktos import output
    from tests.test_build import verify_site

    if not fresh:
        build(BuildOptions(root=site))
        if dies_at in ("install.js", "agent"):
            # One from another release, so that this build rewrites it (an unchanged one is
            # left alone).
            write(site, "planktos/install.js", "// older")
            for agent in (site / "planktos").glob("agent.*"):
                agent.unlink()
    for i in range(40):
        write(site, f"blog/post-{i:02}.html", f"<head></head><p>new {i}</p>")
    before = snapshot(site)
    real = output.Output._write

    def dying(self: output.Output, path: Path, data: bytes) -> Path:
        if (
            path.name.endswith(dies_at)
            or (dies_at == "table" and path.parent.name == "i")
            or (dies_at == "agent" and path.name.startswith("agent."))
        ):
            raise KeyboardInterrupt
        return real(self, path, data)

    def dying_page(*args: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(output.Output, "_write", dying)
    if dies_at == "page":
        monkeypatch.setattr("planktos.inject._stage", dying_page)
    with pytest.raises(KeyboardInterrupt):
        build(BuildOptions(root=site, inject=True))
    monkeypatch.undo()
    assert snapshot(site) == before
    build(BuildOptions(root=site, inject=True))
    verify_site(site)
    assert not [rel for rel in snapshot(site) if ".tmp-" in rel or ".planktos-" in rel]


@pytest.mark.parametrize(
    "fails_at, uninstall",
    [(f, False) for f in ("manifest.json", "install.js", "page", "planktos.sw.js")]
    + [(f, True) for f in ("manifest.json", "install.js", "planktos.sw.js")],
)
def test_failure_during_the_swap_puts_everything_back(
    site: Path, fails_at: str, uninstall: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The swap renames files into place in order; a rename that fails (here: made to fail
    with EIO) undoes the renames before it, so that install.js, the manifest, the SW and the
    pages are never from different builds."""
    build(BuildOptions(root=site))
    write(site, "planktos/install.js", "// older")  # so that install.js is replaced too
    for i in range(40):
        write(site, f"blog/post-{i:02}.html", f"<head></head><p>new {i}</p>")
    before = snapshot(site)
    real = os.replace
    failed = []

    def failing(src: str | Path, dst: str | Path) -> None:
        name = os.path.basename(dst)
        if name == fails_at or (fails_at == "page" and name == "post-20.html"):
            failed.append(dst)
            raise OSError(errno.EIO, "Input/output error", str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    with pytest.raises(BuildError, match="Input/output error"):
        build(BuildOptions(root=site, inject=not uninstall, uninstall=uninstall))
    monkeypatch.undo()
    assert failed
    assert snapshot(site) == before


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


def test_relative_symlink_to_a_file_in_another_directory(site: Path) -> None:
    """The link is published as its target's bytes; the web seed links the target, not the
    link (a hard link to a relative symlink dangled and crashed the build)."""
    from tests.test_build import manifest_of, verify_site

    (site / "blog/latest.html").symlink_to("post-39.html")
    (site / "link.txt").symlink_to("css/style.css")
    (site / "about/up.css").symlink_to("../css/style.css")
    build(BuildOptions(root=site))
    files = manifest_of(site)["files"]
    assert files["link.txt"]["sha256"] == files["css/style.css"]["sha256"]
    assert files["about/up.css"]["sha256"] == files["css/style.css"]["sha256"]
    verify_site(site)
    seeds = [p for p in (site / "planktos/w").rglob("*") if p.is_symlink()]
    assert seeds == []


def test_file_name_not_utf8(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--root", str(site), "--quiet"]) == 0
    name = os.fsdecode(b"blog/bad\xff.txt")
    write(site, name, "x")
    before = snapshot(site)
    code, err = run_cli(["build", "--root", str(site)], capsys)
    assert code == 1 and err.count("\n") == 1, err
    assert "blog/bad\\xff.txt: file name is not valid UTF-8" in err
    assert snapshot(site) == before
    # The way out the message gives works.
    code, err = run_cli(["build", "--root", str(site), "--exclude", "bad*"], capsys)
    assert code == 0, err


def test_tree_deeper_than_the_recursion_limit(tmp_path: Path) -> None:
    from tests.test_build import manifest_of, verify_site

    root = tmp_path / "site"
    depth = sys.getrecursionlimit() + 100
    deep = str(root)
    os.mkdir(deep)
    for _ in range(depth):  # not mkdir(parents=True): that recurses too
        deep += "/d"
        os.mkdir(deep)
    Path(deep, "a.txt").write_text("a")
    Path(deep, "b.txt").write_text("b")  # two files: a shard with a web seed tree
    (root / "index.html").write_text("x")
    try:
        build(BuildOptions(root=root))
        rel = "d/" * depth + "a.txt"
        assert rel in manifest_of(root)["files"]
        verify_site(root)
        (first,) = (root / "planktos/w").iterdir()
        for content in ("B", "BB"):  # two builds later, the first web seed tree is deleted
            Path(deep, "b.txt").write_text(content)
            build(BuildOptions(root=root))
        assert len(list((root / "planktos/w").iterdir())) == 2 and not first.exists()
    finally:
        # pytest's own cleanup (shutil.rmtree) recurses per level before Python 3.12.
        subprocess.run(["rm", "-rf", str(root)], check=True)


def test_long_non_ascii_names(site: Path) -> None:
    """A name of up to 255 bytes is valid on disk, but its web seed form (``~XX`` per byte)
    was three times longer: "File name too long", and a first build left planktos/ stuck."""
    from planktos.urls import seed_segment
    from tests.test_build import manifest_of, verify_site

    long_dir = "ü" * 120  # 240 bytes
    names = [f"blog/{'é' * 125}.html", f"{long_dir}/{'ж' * 125}.txt", f"{long_dir}/b.txt"]
    for name in names:
        write(site, name, f"<p>{name}</p>")
    build(BuildOptions(root=site))
    files = manifest_of(site)["files"]
    from planktos.urls import url_path

    assert all(url_path(n) in files for n in names)
    verify_site(site)
    assert seed_segment("é" * 125 + ".html") != seed_segment("é" * 125 + ".htm")
    assert all(len(seed_segment(n)) <= 255 for n in ("é" * 127, "~" * 255, "%" * 255))


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of its own: a disk that fills up, and that can be made read-only."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mnt = tmp_path / "fs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def fill(fs: Path) -> Path:
    """Write to ``fs`` until it is full; returns the file to delete to free the space."""
    filler = fs / "filler"
    with filler.open("wb", buffering=0) as f:
        for size in (65536, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)
    with pytest.raises(OSError):
        (fs / "probe").write_bytes(b"x")
    return filler


def small_site(root: Path) -> Path:
    write(root, "index.html", "<!doctype html><head></head><title>home</title>")
    for i in range(20):
        write(root, f"blog/post-{i:02}.html", f"<head></head><p>post {i}</p>" * 20)
    write(root, "media/clip.webm", os.urandom(300_000))
    return root


def test_disk_full_on_a_first_build(small_fs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing is left behind (it used to leave planktos/ without a manifest, and every later
    build refused it), and the build after space was freed works."""
    from tests.test_build import verify_site

    site = small_site(small_fs / "site")
    filler = fill(small_fs)
    before = snapshot(site)
    code, err = run_cli(["build", "--root", str(site), "--inject"], capsys)
    assert code == 1 and err.count("\n") == 1, err
    assert "No space left on device" in err and "free some space" in err
    assert snapshot(site) == before
    filler.unlink()
    assert main(["build", "--root", str(site), "--quiet", "--inject"]) == 0
    verify_site(site)


@pytest.mark.parametrize("how", ["rebuild", "inject", "uninstall"])
def test_disk_full_changes_nothing(
    small_fs: Path, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Also the kill switch: a failed --uninstall build once left the uninstalling install.js
    beside the enabled manifest."""
    from tests.test_build import verify_site

    site = small_site(small_fs / "site")
    assert main(["build", "--root", str(site), "--quiet"]) == 0
    for i in range(20):
        write(site, f"blog/post-{i:02}.html", f"<head></head><p>new {i}</p>")
    filler = fill(small_fs)
    before = snapshot(site)
    args = {"rebuild": [], "inject": ["--inject"], "uninstall": ["--uninstall"]}[how]
    code, err = run_cli(["build", "--root", str(site), *args], capsys)
    assert code == 1 and err.count("\n") == 1, err
    assert "No space left on device" in err
    assert snapshot(site) == before
    filler.unlink()
    assert main(["build", "--root", str(site), "--quiet", *args]) == 0
    if how != "uninstall":
        verify_site(site)


@pytest.mark.parametrize("inject", [False, True], ids=["", "inject"])
@pytest.mark.parametrize("first", [True, False], ids=["first build", "rebuild"])
def test_read_only_root(
    small_fs: Path, first: bool, inject: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    site = small_site(small_fs / "site")
    if not first:
        assert main(["build", "--root", str(site), "--quiet"]) == 0
        write(site, "blog/post-00.html", "<p>changed</p>")
    before = snapshot(site)
    subprocess.run(["mount", "-o", "remount,ro", str(small_fs)], check=True)
    code, err = run_cli(["build", "--root", str(site)] + ["--inject"] * inject, capsys)
    assert code == 1 and err.count("\n") == 1, err
    assert "Read-only file system" in err and "make the file system writable" in err
    assert snapshot(site) == before


def test_what_a_failed_first_build_of_0_1_left_is_rebuilt(site: Path) -> None:
    """planktos 0.1 left planktos/ with t/ and w/ and no manifest when a first build failed
    after writing started; every later build refused it as not written by planktos."""
    from tests.test_build import verify_site

    build(BuildOptions(root=site))
    (site / "planktos/manifest.json").unlink()
    for extra in ("install.js", "install.js.br", "install.js.gz", "manifest.json.gz"):
        (site / "planktos" / extra).unlink()
    for agent in (site / "planktos").glob("agent.*"):
        agent.unlink()
    (site / "planktos.sw.js").unlink()
    (site / "planktos.sw.js.gz").unlink()
    build(BuildOptions(root=site))
    verify_site(site)
    # Anything else in it is the user's: refused, untouched.
    (site / "planktos/manifest.json").unlink()
    write(site, "planktos/t/notes.txt", "mine")
    with pytest.raises(InputError, match="not written by planktos"):
        build(BuildOptions(root=site))
    assert (site / "planktos/t/notes.txt").read_text() == "mine"


def test_first_build_killed_while_writing(tmp_path: Path) -> None:
    """SIGKILL once the build has started writing its output: no planktos/ (earlier: one with
    t/ and w/ and no manifest, that every later build refused), and the next build works."""
    from tests.test_build import verify_site

    root = tmp_path / "site"
    for d in range(60):
        for f in range(50):
            write(root, f"d{d:02}/f{f:02}.html", f"<p>{d} {f}</p>")
    before = snapshot(root)
    proc = subprocess.Popen(
        [sys.executable, "-m", "planktos", "build", "--root", str(root), "--quiet"],
        env=dict(os.environ),
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith((".tmp-", "planktos")) for p in root.iterdir()):
        assert proc.poll() is None, "the build ended before it wrote anything"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (root / "planktos").exists() and not (root / "planktos.sw.js").exists()
    leftovers = {rel for rel in snapshot(root) if rel not in before}
    assert all(rel.startswith(".tmp-") for rel in leftovers), leftovers
    build(BuildOptions(root=root))
    verify_site(root)
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]
