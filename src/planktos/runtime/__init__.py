"""The browser runtime's files, written into every build.

The service worker, install script and agent are bundled from ``js/`` by ``js/build.mjs``
into ``dist/`` (``make runtime``, or the wheel build hook), see ``docs/runtime.md``. The
uninstall variants are small hand-written scripts shipped as they are. The agent and the
install script are the same in every site, so ``dist/`` holds them precompressed too
(``.br``, ``.gz``); the agent is published under its content-hashed name (:func:`agent_name`),
which install.js carries.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib.resources import files

from planktos.errors import BuildError

BUILD_PLACEHOLDER = "__PLANKTOS_BUILD__"
# The agent's published names: content-hashed since issue 11, plain ``agent.js`` before.
AGENT_NAME = re.compile(r"agent(?:\.[0-9a-f]{16})?\.js")
ENCODINGS = ("br", "gz")  # file name suffixes of the precompressed copies


@dataclass(frozen=True, slots=True)
class Script:
    """A runtime file as published: its name in ``planktos/``, bytes, precompressed copies."""

    name: str
    data: bytes
    encoded: dict[str, bytes] = field(default_factory=dict)  # suffix ("br", "gz") -> bytes


def read(name: str) -> str:
    """Return the text of a runtime file shipped in this package."""
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


def bundle(name: str) -> str:
    """Return the text of a bundle from ``dist/``; a clear error when the runtime is not built."""
    path = files(__package__).joinpath("dist", name)
    if not path.is_file():
        raise BuildError("browser runtime", "not built; run make runtime (needs Node and npm)")
    return path.read_text(encoding="utf-8")


def service_worker(build: str, uninstall: bool = False) -> str:
    """The ``planktos.sw.js`` text for a build: carries the build id so it changes per build."""
    template = read("sw-uninstall.js") if uninstall else bundle("planktos.sw.js")
    return template.replace(BUILD_PLACEHOLDER, build)


def install_script(uninstall: bool = False) -> str:
    """The ``planktos/install.js`` text; the uninstall one registers nothing."""
    return read("install-uninstall.js") if uninstall else bundle("install.js")


def agent_script() -> str:
    """The agent's text: the in-page agent, WebTorrent inside (an ES module)."""
    return bundle("agent.js")


def agent_name(data: bytes | None = None) -> str:
    """``agent.<first 16 hex of SHA-256>.js``: the agent's name in ``planktos/``."""
    if data is None:
        data = agent_script().encode()
    return f"agent.{hashlib.sha256(data).hexdigest()[:16]}.js"


def _precompressed(name: str) -> dict[str, bytes]:
    """The ``.br`` and ``.gz`` copies of a bundle that ``js/build.mjs`` wrote."""
    out = {}
    for suffix in ENCODINGS:
        path = files(__package__).joinpath("dist", f"{name}.{suffix}")
        if path.is_file():
            out[suffix] = path.read_bytes()
    return out


def published_scripts() -> tuple[Script, Script]:
    """The agent (under its hashed name) and install.js, with their precompressed copies.

    A build error when install.js does not name this agent: the bundles in ``dist/`` come from
    different runs of ``js/build.mjs``, and pages would import an agent that is not there.
    """
    agent = agent_script().encode()
    name = agent_name(agent)
    install = install_script()
    if name not in install:
        raise BuildError("browser runtime", "install.js names another agent; run make runtime")
    return (
        Script(name, agent, _precompressed("agent.js")),
        Script("install.js", install.encode(), _precompressed("install.js")),
    )
