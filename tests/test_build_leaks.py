"""What a build must never publish, whichever name leads to it: dot-directories and build output
reached through symlinks, the output itself as a root, other sites' output below the root."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from planktos.build import BuildOptions, build
from planktos.cli import main
from tests.conftest import write
from tests.test_build import manifest_of, verify_site

SECRET = b"[core]\n\turl = https://user:token@example.com/private.git\n"


def secret_holders(root: Path) -> list[str]:
    """Files the build wrote (torrents, tables, web seed links: all served as they are)
    that hold the secret."""
    out = []
    for dirpath, _dirs, files in os.walk(root / "planktos"):
        for name in files:
            path = Path(dirpath, name)
            if SECRET in path.read_bytes():
                out.append(str(path.relative_to(root)))
    return out


@pytest.mark.parametrize(
    "link, target",
    [
        ("repo", ".git"),  # a directory link to a dot-directory
        ("config.txt", ".git/config"),  # a file link into it
        ("deep", ".git/sub"),  # a directory inside a dot-directory
        ("blog/up", "../.git"),  # relative, from below
        ("hops", "repo"),  # a link to a link to it
    ],
)
def test_symlink_to_a_dot_directory_publishes_nothing_of_it(
    site: Path, link: str, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write(site, ".git/config", SECRET)
    write(site, ".git/sub/config", SECRET)
    if link == "hops":
        (site / "repo").symlink_to(".git")
    (site / link).symlink_to(target)
    assert main(["build", "--root", str(site)]) == 0
    out = capsys.readouterr().out
    files = manifest_of(site)["files"]
    assert not [u for u in files if u.startswith((link, "repo"))], files.keys()
    assert secret_holders(site) == []
    assert f"{link}," in out or out.rstrip().endswith(link)
    assert "symlink to a dotfile" in out
    verify_site(site)


def test_symlink_to_an_excluded_path_is_skipped(site: Path) -> None:
    write(site, "drafts/secret.html", SECRET)
    (site / "latest.html").symlink_to("drafts/secret.html")
    result = build(BuildOptions(root=site, excludes=["drafts"]))
    assert "latest.html" not in manifest_of(site)["files"]
    assert {s.rel: s.reason for s in result.skipped}["latest.html"] == (
        "symlink to an excluded path"
    )
    assert secret_holders(site) == []


def test_symlink_to_the_output_is_not_republished(site: Path) -> None:
    (site / "out").symlink_to("planktos")
    (site / "sw.js").symlink_to("planktos.sw.js")
    counts = []
    for _ in range(3):
        result = build(BuildOptions(root=site))
        counts.append(result.files)
        reasons = {s.rel: s.reason for s in result.skipped}
    assert counts[0] == counts[1] == counts[2]
    assert reasons["out"] == reasons["sw.js"] == "symlink to the build output"
    assert not [u for u in manifest_of(site)["files"] if u.startswith(("out", "sw.js"))]


@pytest.mark.parametrize("inside", ["planktos", "planktos/w", "planktos/t"])
def test_root_inside_the_output_is_refused(
    site: Path, inside: str, capsys: pytest.CaptureFixture[str]
) -> None:
    build(BuildOptions(root=site))
    from tests.test_build_errors import snapshot

    before = snapshot(site)
    assert main(["build", "--root", str(site / inside), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "is the output of a planktos build" in err and str(site) in err
    assert err.count("\n") == 1
    assert snapshot(site) == before


def test_parent_of_built_sites_skips_their_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parent = tmp_path / "srv"
    for name in ("one", "two"):
        write(parent, f"{name}/index.html", f"<p>{name}</p>")
        write(parent, f"{name}/big.bin", os.urandom(300_000))
        build(BuildOptions(root=parent / name))
    write(parent, "index.html", "<p>hub</p>")
    # A directory of the user's that happens to be called planktos is content.
    write(parent, "docs/planktos/about.html", "<p>about the project</p>")
    assert main(["build", "--root", str(parent)]) == 0
    out = capsys.readouterr().out
    files = set(manifest_of(parent)["files"])
    assert files == {
        "index.html",
        "one/index.html",
        "one/big.bin",
        "two/index.html",
        "two/big.bin",
        "docs/planktos/about.html",
    }
    # Each site's planktos/, planktos.sw.js and its .gz copy.
    assert "build output of another site: 6" in out
    assert "one/planktos" in out and "two/planktos.sw.js" in out
    verify_site(parent)
    # Their own builds still work and still skip nothing of the parent's.
    build(BuildOptions(root=parent / "one"))
    verify_site(parent / "one")


def test_a_leak_of_an_earlier_release_goes_at_the_next_build(site: Path) -> None:
    """Earlier releases published ``repo -> .git`` as ``repo/config``. A build normally keeps
    the previous build's web seed trees for its visitors; not when they hold what this build
    skips, or the fixing build would serve the secret for one more build."""
    write(site, ".git/config", SECRET)
    # What such a release published: repo/config, the same file as .git/config.
    (site / "repo").mkdir()
    os.link(site / ".git/config", site / "repo/config")
    write(site, "repo/HEAD", "ref: refs/heads/main\n")
    build(BuildOptions(root=site))
    assert secret_holders(site) != []  # the web seed tree links it
    shutil.rmtree(site / "repo")
    (site / "repo").symlink_to(".git")
    build(BuildOptions(root=site))
    assert secret_holders(site) == []
    verify_site(site)


def test_previous_web_seed_trees_are_kept_without_such_a_leak(site: Path) -> None:
    """The usual case: visitors on the previous build keep its web seed trees."""
    build(BuildOptions(root=site))
    trees = set((site / "planktos/w").iterdir())
    (site / "repo").symlink_to(".git")
    write(site, "blog/post-00.html", "<p>changed</p>")
    build(BuildOptions(root=site))
    assert trees < set((site / "planktos/w").iterdir())
