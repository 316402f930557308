#!/usr/bin/env bash
# Installs everything the tests need and runs the whole suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
VENV=${VENV:-.venv}
"$VENV/bin/ruff" check src tests bench scripts
"$VENV/bin/python" -m pytest -q -ra "$@"
