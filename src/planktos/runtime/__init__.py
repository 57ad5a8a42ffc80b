"""The browser runtime's files, written into every build.

The service worker, install script and agent are bundled from ``js/`` by ``js/build.mjs``
into ``dist/`` (``make runtime``, or the wheel build hook), see ``docs/runtime.md``. The
uninstall variants are small hand-written scripts shipped as they are.
"""

from __future__ import annotations

from importlib.resources import files

from planktos.errors import BuildError

BUILD_PLACEHOLDER = "__PLANKTOS_BUILD__"


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
    """The ``planktos/agent.js`` text: the in-page agent, WebTorrent inside (an ES module)."""
    return bundle("agent.js")
