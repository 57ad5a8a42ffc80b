"""The browser runtime's files, written into every build."""

from __future__ import annotations

from importlib.resources import files


def read(name: str) -> str:
    """Return the text of a runtime file shipped in this package."""
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


def service_worker(build: str, uninstall: bool = False) -> str:
    """The ``planktos.sw.js`` text for a build: carries the build id so it changes per build."""
    template = read("sw-uninstall.js" if uninstall else "sw.js")
    return template.replace("__PLANKTOS_BUILD__", build)


def install_script(uninstall: bool = False) -> str:
    """The ``planktos/install.js`` text; the uninstall one registers nothing."""
    return read("install-uninstall.js" if uninstall else "install.js")
