#!/usr/bin/env bash
# Installs everything the tests need and runs the whole suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
VENV=${VENV:-.venv}
"$VENV/bin/ruff" check src tests bench scripts
# The rules that run: strict types on src/ and the import layers ([tool.mypy] and
# [tool.importlinter] in pyproject.toml). mypy takes about a minute of CPU from a cold
# cache (a clean clone), seconds after; lint-imports under a second.
"$VENV/bin/mypy"
"$VENV/bin/lint-imports"
"$VENV/bin/python" -m pytest -q -ra "$@"
