#!/usr/bin/env bash
# Set everything up and run the checks: ruff, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The browser test renders the Dagster UI in Debian's Chromium, and the OCR tests need
# Tesseract with its Hindi model (a scan in another script): install them where missing.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v tesseract >/dev/null 2>&1 || missing+=(tesseract-ocr)
tesseract --list-langs 2>/dev/null | grep -x hin >/dev/null || missing+=(tesseract-ocr-hin)
# The state-database tests start a throwaway PostgreSQL cluster (initdb, pg_ctl).
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || \
    missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    { apt-get update -qq >/dev/null && \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; } || \
        echo "warning: could not install ${missing[*]}; their tests will be skipped" >&2
fi
.venv/bin/ruff check .
# Two test processes (pytest-xdist): most tests wait on the processes they start (runs, workers,
# servers), so two share the machine's cores well; `-n 0` runs them in one. --durations lists
# the slowest, to keep CI within budget.
.venv/bin/python -m pytest -n 2 --dist worksteal --durations=15 "$@"
