#!/usr/bin/env bash
# The tool shelf: builds the pinned peers (Prometheus 3, Alertmanager, Sloth, VictoriaMetrics, an
# OpenTelemetry Collector, OpenSLO's oslo) from Go modules, once per machine, into
# ${SLOCTL_TOOLS:-~/.cache/sloctl/tools}.
# The pins live in sloctl/shelf/__init__.py. `scripts/tools.sh --list` shows what is built.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
exec "$PY" -m sloctl.shelf "$@"
