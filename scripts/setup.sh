#!/usr/bin/env bash
# Install what stackcheck needs on Debian/Ubuntu: the real Prometheus tools (apt), a venv, the package.
# Idempotent: packages already present are not reinstalled; the venv is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck: actionlint (tests/test_workflows.py) uses it to check the workflows' run: scripts.
packages=(prometheus prometheus-alertmanager prometheus-node-exporter prometheus-blackbox-exporter shellcheck)
binaries=(prometheus promtool prometheus-alertmanager amtool prometheus-node-exporter prometheus-blackbox-exporter shellcheck)
missing=0
for b in "${binaries[@]}"; do command -v "$b" >/dev/null 2>&1 || missing=1; done
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || { missing=1; packages+=(python3-venv); }

if [ "$missing" = 1 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "==> installing OS packages: ${packages[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
echo "==> installing stackcheck into .venv"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[lint,dev]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/stackcheck --version
