"""Find the files of a site that may be published, and say why the others are skipped.

Never published: dotfiles and dot-directories (``.git``, ``.env``, our own temporary build
directories), the build output itself and that of other sites built below the root, symlinks
that lead outside the root or to anything of the above, special files and whatever matches an
``--exclude`` glob. A symlink to a file is published as the file it resolves to (the hash and
the web seed's hard link then use the file, not the link). Bad input raises
:class:`InputError` or :class:`BuildError` before anything is written.
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path

from planktos.errors import BuildError, InputError

OUTPUT_DIR = "planktos"
SW_NAME = "planktos.sw.js"
# What a build writes at the root: the output directory, the SW and its precompressed copies.
OWN_OUTPUT = frozenset({OUTPUT_DIR, SW_NAME, f"{SW_NAME}.br", f"{SW_NAME}.gz"})


@dataclass(slots=True, unsafe_hash=True)
class SiteFile:
    """A regular file to publish, with the stat fields the hash cache is keyed by.

    Never modified, but not frozen: a frozen dataclass costs four times as much to create
    (0.1 s of a 100,000-file rebuild)."""

    rel: str  # POSIX path relative to the root, as named on disk
    path: str  # path to open
    size: int
    mtime_ns: int
    inode: int
    device: int


@dataclass(frozen=True, slots=True)
class Skipped:
    """A path that exists but is not published, and why."""

    rel: str
    reason: str


@dataclass(slots=True)
class Walk:
    """The result of walking a site."""

    files: list[SiteFile]
    skipped: list[Skipped]


def collect(root: Path, paths: Sequence[Path], excludes: Sequence[str]) -> Walk:
    """Return the publishable files under ``paths`` (default: all of ``root``), sorted by path."""
    try:
        os.stat(root)
    except FileNotFoundError as err:
        raise InputError(
            root, "root does not exist; pass an existing directory with --root"
        ) from err
    except OSError as err:
        raise BuildError(root, f"{err.strerror}; check its permissions") from err
    if not os.path.isdir(root):
        raise InputError(root, "root is not a directory; pass a directory with --root")
    try:
        real_root = root.resolve(strict=True)
        for parent in [real_root, *real_root.parents]:
            if parent.name == OUTPUT_DIR and is_site_with_output(parent.parent):
                raise InputError(
                    root,
                    f"is the output of a planktos build; pass its site {parent.parent} with --root",
                )
        walker = _Walker(real_root, list(excludes))
        starts = [_start(real_root, p) for p in paths] or [real_root]
        for start in starts:
            walker.visit(start, real_root)
    except PermissionError as err:
        raise BuildError(err.filename or root, f"{err.strerror}; check its permissions") from err
    files = walker.files
    if len(starts) > 1:  # PATH arguments may overlap
        files = list({f.rel: f for f in files}.values())
    files.sort(key=attrgetter("rel"))
    if not files:
        raise InputError(root, "no files left to publish after skips and --exclude; check them")
    return Walk(files, walker.skipped)


def _start(root: Path, path: Path) -> Path:
    """Resolve one PATH argument and check that it lies inside the root."""
    candidate = path if path.is_absolute() else Path.cwd() / path
    if not os.path.lexists(candidate):
        raise InputError(path, "does not exist; pass files or directories inside the root")
    try:
        resolved = candidate.resolve(strict=True)
    except (RuntimeError, OSError) as err:
        raise InputError(path, f"cannot be resolved ({_why(err)}); check the path") from err
    if resolved != root and root not in resolved.parents:
        raise InputError(path, f"is outside the root {root}; pass --root DIR that contains it")
    return resolved


def is_site_with_output(directory: Path | str) -> bool:
    """Whether ``directory`` holds the output of a planktos build (``planktos/manifest.json``
    in the manifest format); checked only for entries named like our output."""
    from planktos.manifest import FORMAT  # here: planktos.manifest imports this module

    try:
        with open(os.path.join(directory, OUTPUT_DIR, "manifest.json"), "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT


def printable(rel: str) -> str:
    """``rel`` with bytes that are not UTF-8 (held as surrogate escapes) shown as ``\\xff``."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class _Walker:
    def __init__(self, root: Path, excludes: list[str]) -> None:
        self.root = root
        self.excludes = excludes
        self.files: list[SiteFile] = []
        self.skipped: list[Skipped] = []

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _excluded(self, rel: str, name: str) -> bool:
        return bool(self.excludes) and any(
            fnmatch.fnmatchcase(rel, glob) or ("/" not in glob and fnmatch.fnmatchcase(name, glob))
            for glob in self.excludes
        )

    def _skip_reason(self, rel: str, name: str) -> str | None:
        if name.startswith("."):
            return "dotfile"
        if rel in OWN_OUTPUT:
            return "build output"  # a PATH argument naming the output
        if name in OWN_OUTPUT and is_site_with_output(self.root / rel.rpartition("/")[0]):
            return "build output of another site"
        if self._excluded(rel, name):
            return "excluded"
        return None

    def _path_skip_reason(self, rel: str) -> str | None:
        """Why ``rel`` or any directory above it is not published, or None."""
        parts = rel.split("/")
        for i in range(len(parts)):
            reason = self._skip_reason("/".join(parts[: i + 1]), parts[i])
            if reason:
                return reason
        return None

    def visit(self, path: Path, real_root: Path) -> None:
        """Walk ``path`` (already resolved inside the root)."""
        if path == self.root:
            self._walk_dir(path, ancestors=set())
            return
        rel = self._rel(path)
        # A PATH argument inside a skipped directory is skipped like the directory.
        reason = self._path_skip_reason(rel)
        if reason:
            self.skipped.append(Skipped(rel, reason))
            return
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            self._walk_dir(path, ancestors=self._ancestor_ids(path))
        else:
            self._add_file(path, rel, st)

    def _ancestor_ids(self, path: Path) -> set[tuple[int, int]]:
        ids = set()
        for parent in [path, *path.parents]:
            st = os.stat(parent)
            ids.add((st.st_dev, st.st_ino))
            if parent == self.root:
                break
        return ids

    def _walk_dir(self, directory: Path, ancestors: set[tuple[int, int]]) -> None:
        """Walk depth first with a stack, not recursion: a tree may nest deeper than Python's
        recursion limit (1,100 levels raised RecursionError)."""
        stack = [self._scan(str(directory), self._rel(directory), ancestors)]
        while stack:
            below = next(stack[-1], None)
            if below is None:
                stack.pop()
            else:
                stack.append(self._scan(*below))

    def _scan(
        self, directory: str, rel_dir: str, ancestors: set[tuple[int, int]]
    ) -> Iterator[tuple[str, str, set[tuple[int, int]]]]:
        """Take in the files of one directory; yield its subdirectories to walk, in order."""
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise BuildError(printable(rel_dir), f"cannot be listed ({_why(err)})") from err
        # Listed and stat-ed through the directory's descriptor (fstatat: the kernel does not
        # walk the whole path again for each file, a quarter less system time), closed before
        # anything is yielded: a deep tree must not hold a descriptor per level. A plain file
        # (no dot, not our output's name, not excluded, no symlink) takes the shortest way:
        # one stat, no os.access where the mode lets everyone read.
        plain: dict[str, os.stat_result] = {}
        try:
            st = os.fstat(fd)
            entries = sorted(os.scandir(fd), key=_NAME)
            quick = not self.excludes
            for entry in entries:
                name = entry.name
                if (
                    quick
                    and name[0] != "."
                    and name not in OWN_OUTPUT
                    and name.isascii()
                    and entry.is_file(follow_symlinks=False)
                ):
                    plain[name] = entry.stat(follow_symlinks=False)
        except OSError as err:
            raise BuildError(printable(rel_dir), f"cannot be listed ({_why(err)})") from err
        finally:
            os.close(fd)
        ancestors = ancestors | {(st.st_dev, st.st_ino)}
        # Strings, not Path objects, per entry: this loop runs once per file of the site (and
        # a Path of a deep directory costs time in proportion to its depth).
        prefix = "" if rel_dir == "." else rel_dir + "/"
        base = directory if directory.endswith("/") else directory + "/"
        files = self.files
        for entry in entries:
            name = entry.name
            rel = prefix + name
            path = base + name
            known = plain.get(name)
            if known is not None and known.st_mode & 0o444 == 0o444 and stat.S_ISREG(known.st_mode):
                files.append(
                    SiteFile(
                        rel, path, known.st_size, known.st_mtime_ns, known.st_ino, known.st_dev
                    )
                )
                continue
            if rel in OWN_OUTPUT:
                continue  # our own output: never published as site content, not a "skip"
            reason = self._skip_reason(rel, name)
            if reason:
                self.skipped.append(Skipped(rel, reason))
                continue
            if not name.isascii():
                try:
                    name.encode()
                except UnicodeEncodeError as err:
                    raise BuildError(
                        printable(rel),
                        "file name is not valid UTF-8, which URLs need; rename or --exclude it",
                    ) from err
            try:
                is_link = stat.S_ISLNK(os.lstat(path).st_mode)
            except OSError as err:
                raise BuildError(rel, f"cannot be read ({_why(err)}); fix or --exclude it") from err
            target = path
            if is_link:
                resolved = self._symlink_target(Path(path), rel)
                if resolved is None:
                    continue
                target = str(resolved)
            try:
                st = os.stat(path)
            except OSError as err:
                raise BuildError(rel, f"cannot be read ({_why(err)}); fix or --exclude it") from err
            if stat.S_ISDIR(st.st_mode):
                if (st.st_dev, st.st_ino) in ancestors:
                    raise BuildError(rel, "symlink loop; remove the link or --exclude it")
                yield path, rel, ancestors
            else:
                self._add_file(target, rel, st)

    def _symlink_target(self, path: Path, rel: str) -> Path | None:
        """Resolve a symlink; None (and a skip) when it leads outside the root or nowhere."""
        try:
            target = path.resolve(strict=True)
        except RuntimeError as err:  # Python < 3.13 reports loops this way
            raise BuildError(rel, "symlink loop; remove the link or --exclude it") from err
        except OSError as err:
            if "loop" in str(err).lower() or getattr(err, "errno", None) == 40:
                raise BuildError(rel, "symlink loop; remove the link or --exclude it") from err
            self.skipped.append(Skipped(rel, "broken symlink"))
            return None
        if target != self.root and self.root not in target.parents:
            self.skipped.append(Skipped(rel, "symlink leads outside the root"))
            return None
        # What the link leads to must be publishable under its own name too (repo -> .git).
        reason = None if target == self.root else self._path_skip_reason(self._rel(target))
        if reason:
            self.skipped.append(Skipped(rel, f"symlink to {_SYMLINK_TO.get(reason, reason)}"))
            return None
        return target

    def _add_file(self, path: Path | str, rel: str, st: os.stat_result) -> None:
        if not stat.S_ISREG(st.st_mode):
            self.skipped.append(Skipped(rel, "not a regular file"))
            return
        if not os.access(path, os.R_OK):
            raise BuildError(rel, "is not readable; fix its permissions or --exclude it")
        self.files.append(
            SiteFile(rel, str(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
        )


_NAME = attrgetter("name")
_SYMLINK_TO = {
    "dotfile": "a dotfile",
    "build output": "the build output",
    "build output of another site": "the build output of another site",
    "excluded": "an excluded path",
}


def _why(err: BaseException) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)


def summarize_skips(skipped: Iterable[Skipped]) -> dict[str, int]:
    """Count skips by reason, for the build summary."""
    counts: dict[str, int] = {}
    for s in skipped:
        counts[s.reason] = counts.get(s.reason, 0) + 1
    return counts
