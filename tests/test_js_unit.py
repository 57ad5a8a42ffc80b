"""The runtime's JS unit tests (``js/test/*.test.mjs``, node's own test runner), run by pytest
so that ``make test`` runs them too."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_js_unit_tests_pass() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node not installed: make test installs it (the JS unit tests need Node 20+)")
    proc = subprocess.run(
        [node, "--test", "js/test/"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout
