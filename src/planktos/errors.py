"""One error root for everything Planktos reports to a user.

Each error carries the offending input and formats as ``input: what is wrong; what to do``,
so that the CLI can print it on one line and the server can map it to a 4xx status.
"""

from __future__ import annotations

import errno


class PlanktosError(Exception):
    """Base of every error Planktos reports to a user."""

    def __init__(self, subject: object, problem: str) -> None:
        self.subject = subject
        self.problem = problem
        super().__init__(f"{subject}: {problem}")


class InputError(PlanktosError):
    """A command-line argument or option is invalid."""


class BuildError(PlanktosError):
    """A site cannot be built as asked (unreadable file, file changed while hashed, ...)."""


class BencodeError(PlanktosError):
    """Data is not valid bencode."""


def advice(err: OSError) -> str:
    """What to do about a file system error, for the end of a one-line message."""
    return {
        errno.ENOSPC: "free some space",
        errno.EDQUOT: "free some space",
        errno.EROFS: "make the file system writable",
        errno.EIO: "check the disk",
        errno.EACCES: "check the permissions",
        errno.EPERM: "check the permissions",
    }.get(err.errno or 0, "fix that")
