#!/usr/bin/env bash
# Create .venv and install the project (torch's CPU build first), once per pyproject change.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    # torch first, pinned: this CPU build satisfies sentence-transformers, so pip does not
    # fetch the multi-GB CUDA build.
    # pip byte-compiles what it installs (about 30 s more here). Python would compile the
    # modules it imports on first import instead, but not where PYTHONDONTWRITEBYTECODE is
    # set, as on this project's CI machines: there every process (each run, each worker)
    # compiled torch, transformers and Dagster from source again, and the test suite took
    # about 1.6 times as long.
    # requirements.lock pins every package to the set the suite last passed with: pip
    # resolves nothing, and installs what CI tested.
    .venv/bin/python -m pip install --quiet -c requirements.lock "torch==2.13.0"
    # k8s: what the deployment image adds (deploy/Dockerfile), so the lock pins it too.
    .venv/bin/python -m pip install --quiet -c requirements.lock -e ".[test,bench,k8s]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
