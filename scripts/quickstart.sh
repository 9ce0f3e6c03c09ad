#!/usr/bin/env bash
# README's first command: set everything up, start the local stack, verify it (smoke profile).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/stackcheck up --time-scale "${STACKCHECK_TIME_SCALE:-10}"
exec .venv/bin/stackcheck verify --target local --profile smoke --json report.json
