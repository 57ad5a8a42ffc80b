# The two commands a newcomer needs: `make demo` and `make test`. Each sets up what it uses.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LINT_PATHS := src tests bench

.PHONY: demo test test-latest lint lock bench bench-deps setup system-deps clean runtime dist

# The exact versions (with hashes) that `make test` and CI use: requirements-dev.txt, written by
# `make lock` with uv from pyproject.toml's ranges (README, "Dependencies"). hatchling is in the
# lock too, so the editable install builds without fetching anything unpinned.
LOCK := requirements-dev.txt
PIP := $(PY) -m pip -q --disable-pip-version-check
UV_VERSION := 0.13.8
TOOLS := .venv-tools

$(STAMP): $(LOCK) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes --no-deps -r $(LOCK)
	$(PIP) install --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

# Refresh the lock on purpose: the newest versions pyproject.toml allows, today.
lock:
	test -x $(TOOLS)/bin/uv || { $(PYTHON) -m venv $(TOOLS) && \
		$(TOOLS)/bin/pip install -q --disable-pip-version-check uv==$(UV_VERSION); }
	$(TOOLS)/bin/uv pip compile --quiet --upgrade --generate-hashes --python-version 3.11 \
		--extra dev pyproject.toml requirements-build.in -o $(LOCK)

# The ranges users get: the whole suite on the newest versions pyproject.toml allows (not part
# of `make test`; run it before refreshing the lock, so the lock never goes stale unseen).
test-latest:
	rm -rf .venv-latest
	$(PYTHON) -m venv .venv-latest
	.venv-latest/bin/pip install -q --disable-pip-version-check --upgrade -e '.[dev]'
	.venv-latest/bin/pip freeze --exclude-editable | sed 's/^/  /'
	touch .venv-latest/.installed
	$(MAKE) test VENV=.venv-latest

# Debian packages the tests use: aria2c (a regular BitTorrent client), Chromium, Firefox ESR
# (every browser test runs in both; tests/browser/firefox.py), Redis (tracker
# scale-out), unshare + ip to run the suite in a network namespace holding only loopback
# (WebRTC uses every interface it finds; there, everything stays on 127.0.0.1), GNU time
# (the benchmarks read each tool's peak memory with it), and nginx (with its brotli_static
# module) and Caddy, which run the README's configurations in front of a built site.
system-deps:
	scripts/ensure-debian-packages aria2:aria2c chromium:chromium firefox-esr:firefox-esr \
		redis-server:redis-server \
		util-linux:unshare iproute2:ip time:/usr/bin/time nginx:nginx caddy:caddy \
		libnginx-mod-http-brotli-static:/usr/lib/nginx/modules/ngx_http_brotli_static_module.so

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

# What a site owner installs: a wheel (and an sdist) in dist/, the browser runtime bundled in,
# so that `pip install dist/planktos-*.whl` needs no Node (README, "Install").
DIST ?= dist
dist: setup runtime
	rm -rf $(DIST)
	$(PY) -m hatchling build -d $(DIST)

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
	rm -rf $(VENV) .venv-latest $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
