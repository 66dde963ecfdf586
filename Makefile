# Two commands on a fresh Debian/Ubuntu machine with Python 3.11:
#   make demo   validate, generate and prove the bundled SLOs in slos/, then print a summary
#   make test   install what the tests need and run the whole suite
# Everything else here is a building block of those two.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SLOCTL := $(BIN)/sloctl
STAMP  := $(VENV)/.installed
# Debian packages: promtool/prometheus, amtool/alertmanager, the databases the testbed and
# collector run against, chromium for the HTML report screenshots, and openssl for the TLS tests'
# private CA and certificates.
DEB_DEMO := prometheus
DEB_TEST := prometheus prometheus-alertmanager postgresql pgbouncer redis-server chromium \
            prometheus-postgres-exporter prometheus-redis-exporter openssl

# Compiled modules are kept (__pycache__, ignored by git) even where the environment sets
# PYTHONDONTWRITEBYTECODE: the suite starts the CLI and the testbed's API hundreds of times and
# collects every test module in each worker, and each would compile our modules anew
# (benchmarks/bytecode_cache.py; docs/benchmarks.md, "Compiled modules kept").
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test drills browser-deps tools lint typecheck generate check-generated unit system-deps-demo system-deps-test venv testbed clean

demo: venv system-deps-demo
	$(SLOCTL) validate slos/
	$(SLOCTL) generate slos/ -o .
	$(SLOCTL) test rules/
	$(SLOCTL) explain slos/

test: venv system-deps-test tools browser-deps lint typecheck check-generated
	$(BIN)/pytest -n 2 --dist loadgroup --no-loadscope-reorder -q -m "not drill" --durations=25

# The browser tests of `sloctl serve` drive the system Chromium (chromium in DEB_TEST) with
# playwright-core and run axe-core, both pinned in tests/browser/package-lock.json; no browser
# is ever downloaded.
browser-deps:
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/browser --no-audit --no-fund

# The tool shelf (docs/compat.md): Prometheus 3, Alertmanager 0.35, Sloth, VictoriaMetrics and an
# OpenTelemetry Collector built from Go modules once per machine into ~/.cache/sloctl/tools.
# Without Go or the module proxy it says so and the engine tests skip, naming what is missing.
tools: venv
	scripts/tools.sh --if-go

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dashboards,collector,testbed,load,chaos,dev]'
	touch $(STAMP)

system-deps-demo:
	scripts/install-debian-packages $(DEB_DEMO)

system-deps-test:
	scripts/install-debian-packages $(DEB_TEST)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check sloctl testbed

# mypy's cache lives once per machine, as the tool shelf does: a fresh clone (CI's) checks only
# what differs from the last run here (mypy compares each file's hash; its version is in the cache).
MYPY_CACHE ?= $(HOME)/.cache/sloctl/mypy

typecheck: venv
	$(BIN)/mypy --cache-dir $(MYPY_CACHE)

generate: venv
	$(SLOCTL) generate slos/ -o .

# Generated files are checked in: CI fails when they are stale.
check-generated: venv
	$(SLOCTL) generate slos/ -o . --check

testbed: venv system-deps-test
	$(SLOCTL) testbed up

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

# The five game days in sequence on one rig with the generated rules themselves, each waiting
# for its pages to resolve (about 45 minutes): `make test` runs them with the rig's fast reset
# (short windows ÷ 20, about 2.5 minutes); run this before a release or on a schedule.
drills: venv system-deps-test tools
	$(BIN)/pytest -q -m drill
