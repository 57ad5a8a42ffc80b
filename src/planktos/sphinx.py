"""The Sphinx extension ``planktos.sphinx``: ``extensions = ["planktos.sphinx"]`` in ``conf.py``.

When the ``html``, ``dirhtml`` or ``singlehtml`` builder has finished without an error, runs
the build of ``planktos build --inject`` on the output directory. Other builders (LaTeX,
EPUB, text, JSON, ...) write no website and are left alone. Options are ``planktos_*``
config values, checked by :mod:`planktos.sitegen` as the MkDocs plugin's are.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sphinx.errors import ConfigError, ExtensionError
from sphinx.util import logging

from planktos import __version__, sitegen
from planktos.errors import InputError, PlanktosError

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.config import Config
    from sphinx.util.typing import ExtensionMetadata

PREFIX = "planktos_"
WEBSITE_BUILDERS = frozenset({"html", "dirhtml", "singlehtml"})
log = logging.getLogger(__name__)


def setup(app: Sphinx) -> ExtensionMetadata:
    """Register the ``planktos_*`` config values and the build hook."""
    defaults = sitegen.Settings()
    for name in sitegen.CHECKS:
        app.add_config_value(PREFIX + name, getattr(defaults, name), "")
    app.connect("config-inited", _check_config)
    app.connect("build-finished", _build)
    return {"version": __version__, "parallel_read_safe": True, "parallel_write_safe": True}


def settings(config: Config) -> sitegen.Settings:
    """The ``planktos_*`` values of ``config``, checked; ConfigError names the bad one."""
    # conf.py may hold any name; one that looks like ours but is not would do nothing silently.
    raw: dict[str, Any] = config._raw_config
    for name in sorted(raw):
        if name.startswith(PREFIX) and name.removeprefix(PREFIX) not in sitegen.CHECKS:
            known = ", ".join(PREFIX + k for k in sitegen.CHECKS)
            raise ConfigError(f"{name}: unknown option; known: {known}")
    values: dict[str, Any] = {}
    for name, check in sitegen.CHECKS.items():
        try:
            values[name] = check(config[PREFIX + name])
        except InputError as err:
            raise ConfigError(f"{PREFIX}{name}: {err}") from err
    return sitegen.Settings(**values)


def _base(config: Config) -> str | None:
    try:
        return sitegen.base_from_site_url(config.html_baseurl, "html_baseurl")
    except InputError as err:
        raise ConfigError(f"html_baseurl: {err}") from err


def _check_config(app: Sphinx, config: Config) -> None:
    """Fail at once on a bad option, before Sphinx spends time reading the sources.

    Runs before Sphinx's own type check (a warning), which then sees the checked values.
    """
    for name, value in asdict(settings(config)).items():
        config[PREFIX + name] = value
    _base(config)


def _build(app: Sphinx, exception: Exception | None) -> None:
    """Build Planktos's output into the finished website (not after a failed build)."""
    if exception is not None:
        return
    chosen = settings(app.config)
    if not chosen.enabled:
        return
    if app.builder.name not in WEBSITE_BUILDERS:
        log.verbose("planktos: nothing to do for the %s builder", app.builder.name)
        return
    base = _base(app.config)
    if base is None and not app.config.html_baseurl:
        log.info("planktos: no html_baseurl, so the site must be served at its origin's root")
    try:
        line = sitegen.build_site(Path(app.outdir), base, chosen)
    except PlanktosError as err:
        raise ExtensionError(f"planktos: {err}") from err
    log.info(line)
