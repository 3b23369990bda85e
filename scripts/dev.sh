#!/usr/bin/env bash
# Set everything up and start the Dagster UI + daemon on http://127.0.0.1:3000 (embedded Qdrant,
# sample documents in inbox/). Environment variables in the README override the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/dagster_home}"
mkdir -p "$DAGSTER_HOME"
[ -f "$DAGSTER_HOME/dagster.yaml" ] || cp dagster_home/dagster.yaml "$DAGSTER_HOME/dagster.yaml"
exec .venv/bin/dagster dev -h 127.0.0.1 -p "${DAGSTER_PORT:-3000}" -w workspace.yaml
