"""Write a build's output next to the site and swap it in atomically.

Everything is written under a temporary dot-directory inside the root (never published, same
filesystem, so hard links and renames work), then ``planktos/`` is exchanged with the new one
in one ``renameat2(RENAME_EXCHANGE)`` where Linux offers it (two renames elsewhere) and
``planktos.sw.js`` is replaced. A failed or killed build leaves the previous output intact;
its leftovers are removed by the next build, which holds a lock on the root meanwhile.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from planktos.errors import BuildError, InputError
from planktos.manifest import FORMAT
from planktos.walk import OUTPUT_DIR, SW_NAME, SiteFile

STAGE_PREFIX = ".planktos-build-"


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the root directory for the whole build."""
    fd = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise InputError(root, "another planktos build is running on it; wait for it") from err
        yield
    finally:
        os.close(fd)


def previous_manifest(root: Path) -> dict[str, Any] | None:
    """The manifest of the current output, or None; refuses output planktos did not write."""
    out = root / OUTPUT_DIR
    if not out.exists() and not out.is_symlink():
        return None
    try:
        data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = None
    if (
        not out.is_dir()
        or out.is_symlink()
        or not isinstance(data, dict)
        or data.get("format") != FORMAT
    ):
        raise InputError(
            out, "exists but was not written by planktos; move it away, planktos writes there"
        )
    return data


def remove_leftovers(root: Path) -> None:
    """Delete staging directories of builds that were killed (we hold the root's lock)."""
    for entry in root.iterdir():
        if entry.name.startswith(STAGE_PREFIX) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


class Stage:
    """A staging directory that becomes the output on :meth:`commit`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=root))
        self.out = self.dir / OUTPUT_DIR
        self.out.mkdir()
        self.copies = 0

    def write(self, rel: str, data: bytes | str) -> None:
        """Write a file of the output (``rel`` relative to the site root)."""
        path = self.dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    def link(self, rel: str, source: SiteFile) -> None:
        """Publish ``source`` again at ``rel`` without a second copy: a hard link, else a copy."""
        path = self.dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source.path, path, follow_symlinks=True)
        except OSError as err:
            if err.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise BuildError(source.rel, f"cannot be linked ({err.strerror})") from err
            shutil.copyfile(source.path, path)
            self.copies += 1
        st = os.stat(path)
        if (st.st_size, st.st_mtime_ns) != (source.size, source.mtime_ns):
            raise BuildError(source.rel, "changed while the site was built; run the build again")

    def commit(self) -> None:
        """Swap the staged output in for the current one."""
        current = self.root / OUTPUT_DIR
        if current.exists():
            if not _exchange(self.out, current):
                aside = self.dir / "previous"
                os.rename(current, aside)
                os.rename(self.out, current)
        else:
            os.rename(self.out, current)
        os.replace(self.dir / SW_NAME, self.root / SW_NAME)
        shutil.rmtree(self.dir, ignore_errors=True)

    def discard(self) -> None:
        """Remove the staging directory after a failure."""
        shutil.rmtree(self.dir, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths with renameat2(2); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))
