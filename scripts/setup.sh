#!/usr/bin/env bash
# Create .venv and install the project (torch's CPU build first), once per pyproject change.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # torch first, pinned: this CPU build satisfies sentence-transformers, so pip does not
    # fetch the multi-GB CUDA build.
    # --no-compile: pip would byte-compile every module it installs, most of them never
    # imported (torch's thousands); Python compiles the ones imported, once, on first import.
    .venv/bin/python -m pip install --quiet --no-compile "torch==2.13.0"
    .venv/bin/python -m pip install --quiet --no-compile -e ".[test,bench]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
