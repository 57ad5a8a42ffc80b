"""Hatch build hook: bundle the browser runtime into the package before a wheel or sdist is made.

Runs ``npm ci --ignore-scripts`` (when ``node_modules`` is missing) and ``node js/build.mjs``,
which writes ``src/planktos/runtime/dist/`` (git-ignored, listed as build artifacts in
pyproject.toml). A wheel thus carries the bundles and installs and runs with no Node. Building
a wheel from an sdist that already carries them needs no Node either. Editable installs skip
this: ``make runtime`` builds into the source tree they point at.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLES = (
    "planktos.sw.js",
    *(f"{name}{suffix}" for name in ("install.js", "agent.js") for suffix in ("", ".br", ".gz")),
)
DIST = Path("src/planktos/runtime/dist")


class RuntimeBuildHook(BuildHookInterface):  # type: ignore[misc]
    """Builds the JS bundles with Node, or checks that prebuilt ones are present."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name == "wheel" and version == "editable":
            return
        root = Path(self.root)
        node, npm = shutil.which("node"), shutil.which("npm")
        if (root / "js" / "build.mjs").is_file() and node and npm:
            if not (root / "node_modules").is_dir():
                self._run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], root)
            self._run([node, "js/build.mjs"], root)
        missing = [name for name in BUNDLES if not (root / DIST / name).is_file()]
        if missing:
            raise RuntimeError(
                f"browser runtime: {', '.join(missing)} missing in {DIST}; "
                "building the package needs Node and npm (or an sdist that carries the bundles)"
            )

    def _run(self, command: list[str], cwd: Path) -> None:
        self.app.display_info("planktos runtime: " + " ".join(command))
        subprocess.run(command, cwd=cwd, check=True)
