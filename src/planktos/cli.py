"""Command-line interface (filled in by the build/serve work)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the ``planktos`` command."""
    return 0
