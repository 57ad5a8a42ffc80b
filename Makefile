# The two commands a newcomer needs: `make demo` and `make test`. Each sets up what it uses.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINT_PATHS := src tests bench

.PHONY: demo test lint bench bench-deps setup system-deps clean runtime

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# Debian packages the tests use: aria2c (a regular BitTorrent client), Chromium, Redis (tracker
# scale-out), unshare + ip to run the suite in a network namespace holding only loopback
# (WebRTC uses every interface it finds; there, everything stays on 127.0.0.1), and GNU time
# (the benchmarks read each tool's peak memory with it).
system-deps:
	scripts/ensure-debian-packages aria2:aria2c chromium:chromium redis-server:redis-server \
		util-linux:unshare iproute2:ip time:/usr/bin/time

# The peer tools the build benchmark compares against (libtorrent and create-torrent come from
# PyPI and npm with the rest: `make setup runtime`).
bench-deps: system-deps
	scripts/ensure-debian-packages mktorrent:mktorrent transmission-cli:transmission-create

# The browser runtime (docs/runtime.md): npm packages pinned in package-lock.json, bundled by
# esbuild into src/planktos/runtime/dist/. `--ignore-scripts`: a transitive preinstall fails.
node_modules/.package-lock.json: package-lock.json
	scripts/ensure-debian-packages nodejs:node npm:npm
	npm ci --ignore-scripts --no-audit --no-fund

runtime: node_modules/.package-lock.json
	node js/build.mjs

demo: setup runtime
	$(VENV)/bin/planktos demo

lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy

test: setup system-deps lint runtime
	scripts/in-netns $(PY) -m pytest

bench: setup bench-deps runtime
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
