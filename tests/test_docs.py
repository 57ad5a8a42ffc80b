"""The README documents every command and option, and opens with the two commands."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from planktos.cli import make_parser
from planktos.sitegen import CHECKS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = make_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def options() -> list[tuple[str, str]]:
    found = []
    for name, sub in subcommands().items():
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    found.append((name, flag))
    return found


def test_readme_opens_with_the_two_commands() -> None:
    head = README.splitlines()[:12]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_every_command_is_documented(command: str) -> None:
    assert f"### `planktos {command}" in README


@pytest.mark.parametrize(("command", "flag"), options())
def test_every_option_is_documented(command: str, flag: str) -> None:
    section = README.split(f"### `planktos {command}", 1)[1].split("\n### ", 1)[0]
    assert f"`{flag}" in section, f"planktos {command} {flag} is missing from the README"


@pytest.mark.parametrize("option", sorted(CHECKS))
def test_every_generator_option_is_documented(option: str) -> None:
    section = README.split("## Static site generators", 1)[1].split("\n## ", 1)[0]
    assert f"| `{option}` | `planktos_{option}` |" in section
    assert (
        "pip install 'planktos[mkdocs]'" in section and "pip install 'planktos[sphinx]'" in section
    )
