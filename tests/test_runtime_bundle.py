"""The bundled browser runtime (``make runtime``): present, within budget, written by builds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from planktos import runtime
from planktos.build import BuildOptions, build
from planktos.errors import BuildError
from tests.conftest import write

DIST = Path(runtime.__file__).parent / "dist"
SW_LIMIT = 34 * 1024


def test_bundles_exist_and_the_service_worker_fits_its_budget() -> None:
    for name in ("planktos.sw.js", "install.js", "agent.js"):
        assert (DIST / name).is_file(), f"{name} missing: run make runtime"
    assert (DIST / "planktos.sw.js").stat().st_size <= SW_LIMIT
    sw = runtime.service_worker("0123456789abcdef")
    assert "0123456789abcdef" in sw and runtime.BUILD_PLACEHOLDER not in sw
    assert "RTCPeerConnection" not in sw  # WebTorrent stays out of the service worker
    assert "RTCPeerConnection" in runtime.agent_script()
    assert "planktos/agent.js" in runtime.install_script()


def test_build_writes_the_runtime(site: Path) -> None:
    write(site, "index.html", "<p>hi</p>")
    result = build(BuildOptions(root=site))
    manifest = json.loads((site / "planktos/manifest.json").read_text())
    sw = (site / "planktos.sw.js").read_text()
    assert manifest["build"] == result.build and result.build in sw
    assert (site / "planktos/agent.js").read_bytes() == (DIST / "agent.js").read_bytes()
    assert (site / "planktos/install.js").read_bytes() == (DIST / "install.js").read_bytes()


def test_uninstall_keeps_hand_written_scripts(site: Path) -> None:
    write(site, "index.html", "<p>hi</p>")
    build(BuildOptions(root=site, uninstall=True))
    assert "unregister" in (site / "planktos/install.js").read_text()
    assert "clearPlanktosData" in (site / "planktos.sw.js").read_text()


def test_missing_bundles_are_a_clear_build_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "files", lambda _pkg: Path("/nonexistent"))
    with pytest.raises(BuildError, match="not built; run make runtime"):
        runtime.install_script()
