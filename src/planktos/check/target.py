"""What ``planktos check`` knows of the site it checks: its URL and what its manifest said."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

MANIFEST = "planktos/manifest.json"
WORKER = "planktos.sw.js"
INSTALL = "planktos/install.js"
STATS = "planktos/stats"
DASHBOARD = "planktos/dashboard"


@dataclass(slots=True)
class Site:
    """What the manifest told us, gathered as the checks go."""

    url: str
    top: dict[str, Any]
    files: dict[str, Any] = field(default_factory=dict)  # key → entry, from sampled leaves
    shards: dict[str, Any] = field(default_factory=dict)
    info_hashes: list[str] = field(default_factory=list)  # every shard's, from the refs table

    def at(self, rel: str) -> str:
        return urljoin(self.url, rel)
