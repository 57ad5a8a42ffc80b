"""The MkDocs plugin ``planktos``: ``plugins: [search, planktos]`` in ``mkdocs.yml``.

After ``mkdocs build`` (and ``gh-deploy``) has written ``site_dir``, the plugin runs the
build of ``planktos build --inject`` on it, last among the plugins so that every file the
others write is published. ``mkdocs serve`` is left alone: it rebuilds into a temporary
directory on every change and its dev server rewrites pages, so Planktos would only slow it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from mkdocs.config.base import BaseConfigOption, Config, ValidationError
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority

from planktos import sitegen
from planktos.build import DEFAULT_TRACKER
from planktos.errors import InputError, PlanktosError
from planktos.manifest import check_runtime

T = TypeVar("T")
log = logging.getLogger("mkdocs.plugins.planktos")


class _Checked(BaseConfigOption[T]):
    """An option checked by :mod:`planktos.sitegen`, so MkDocs and Sphinx agree."""

    def __init__(self, check: Callable[[object], T], default: T) -> None:
        super().__init__()
        self.check = check
        self.default = default

    def run_validation(self, value: object, /) -> T:
        try:
            return self.check(value)
        except InputError as err:
            raise ValidationError(str(err)) from err


# mkdocs' Config and BasePlugin define __init_subclass__ without annotations.
class PlanktosConfig(Config):  # type: ignore[no-untyped-call]
    """The plugin's options (README, "Static site generators")."""

    enabled = _Checked(sitegen.check_bool, True)
    trackers = _Checked(sitegen.check_trackers, [DEFAULT_TRACKER])
    excludes = _Checked[list[str]](sitegen.check_excludes, [])
    piece_size = _Checked(sitegen.check_piece_size, None)
    jobs = _Checked(sitegen.check_jobs, None)
    inject = _Checked(sitegen.check_bool, True)
    uninstall = _Checked(sitegen.check_bool, False)
    runtime = _Checked[dict[str, Any]](check_runtime, {})


class PlanktosPlugin(BasePlugin[PlanktosConfig]):  # type: ignore[no-untyped-call]
    """Builds Planktos's output into ``site_dir`` after MkDocs has built the site."""

    def __init__(self) -> None:
        self.command: str | None = None  # None when MkDocs is driven from Python

    def load_config(
        self, options: dict[str, Any], config_file_path: str | None = None
    ) -> tuple[list[tuple[str, Exception]], list[tuple[str, str]]]:
        """MkDocs only warns about unknown options; a misspelt one would silently do nothing."""
        errors, warnings = super().load_config(options, config_file_path)
        known = sorted(sitegen.CHECKS)
        unknown = sorted(set(options) - set(known))
        for key in unknown:
            errors.append((key, ValidationError(f"unknown option; known: {', '.join(known)}")))
        return errors, [(k, w) for k, w in warnings if k not in unknown]

    def on_startup(self, *, command: Literal["build", "gh-deploy", "serve"], dirty: bool) -> None:
        """Remember the command: ``mkdocs serve`` keeps its temporary site free of Planktos."""
        self.command = command

    @event_priority(-100)  # last: after every plugin that writes into site_dir (search, ...)
    def on_post_build(self, *, config: MkDocsConfig) -> None:
        """Inject the install script and build torrents, manifest and service worker."""
        if not self.config.enabled:
            return
        if self.command == "serve":
            log.info("planktos: skipped under mkdocs serve; mkdocs build writes the output")
            return
        settings = sitegen.Settings(**{k: self.config[k] for k in sitegen.CHECKS})
        try:
            base = sitegen.base_from_site_url(config.site_url, "site_url")
            if base is None and not config.site_url:
                log.info("planktos: no site_url, so the site must be served at its origin's root")
            line = sitegen.build_site(Path(config.site_dir), base, settings)
        except PlanktosError as err:
            raise PluginError(f"planktos: {err}") from err
        log.info(line)
