#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs, lints, then unit and lab tests.
# Lab tests need root on Linux; they build (and at the end remove) a simulated fleet.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check fleet tests benchmarks
.venv/bin/ruff format --check --quiet fleet tests benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest -q "$@"
