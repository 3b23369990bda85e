#!/usr/bin/env bash
# Set everything up and run the checks: ruff, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The browser test renders the Dagster UI in Debian's Chromium: install it where missing.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
        && [ "$(id -u)" = "0" ]; then
    apt-get update -qq >/dev/null && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || \
        echo "warning: could not install chromium; the browser test will be skipped" >&2
fi
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
