"""Allow ``python -m planktos``."""

from planktos.cli import main

raise SystemExit(main())
