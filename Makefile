# smsprobe — one entry point for people and CI.
#   make demo   install, then run the main job on embedded defaults (no server needed)
#   make test   install what the tests need (Python deps, real servers from Debian), then
#               ruff, the import contracts (docs/architecture.md), mypy and every test
#   make check  the same as make test
#   make bench  every benchmark in bench/, one JSON line each
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-8)
DEMO_OUT ?= demo-out
PYTEST_WORKERS ?= 3

.PHONY: install install-demo servers demo test check lint typecheck bench protos clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

# Real servers the integration tests start on loopback: InfluxDB 1.x, VictoriaMetrics
# (v2 write API), PostgreSQL, Chromium (report rendering) with a CJK font (fonts-noto-cjk:
# the report's Chinese headers, named in its CSS font fallbacks); and the npm `smpp`
# package as an independent SMPP peer.
servers:
	@need=""; \
	command -v influxd >/dev/null || need="$$need influxdb"; \
	command -v victoria-metrics >/dev/null || need="$$need victoria-metrics"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$$need postgresql"; \
	command -v chromium >/dev/null || need="$$need chromium"; \
	fc-list 2>/dev/null | grep -q "Noto Sans CJK" || need="$$need fonts-noto-cjk"; \
	if [ -n "$$need" ]; then \
	  echo "installing Debian packages:$$need"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; \
	fi
	@test -d tests/peers/node_modules/smpp || (cd tests/peers && npm install --silent --no-audit --no-fund >/dev/null)

demo: install
	$(VENV)/bin/smsprobe-collector demo --out $(DEMO_OUT)

# worksteal: the end-to-end demo tests take about a minute each; with the default scheduler
# several can queue on one worker while the others idle (loaded 2-core box: 385 s vs 198 s).
# The gates first (cheap, and a landing must pass them), then every test.
test: install servers lint typecheck
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist worksteal -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: install
	$(VENV)/bin/mypy agent collector bench scripts

check: test

bench: install servers
	@for f in bench/*.py; do $(PY) $$f || exit 1; done

protos: install
	$(PY) scripts/gen_protos.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache .mypy_cache .ruff_cache
