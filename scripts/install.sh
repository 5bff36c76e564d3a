#!/usr/bin/env bash
# Install CellTrail into ./.venv (and, for tests, the Debian packages the suite needs).
# Usage: bash scripts/install.sh [app|test]
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-app}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${missing[*]} (log: /tmp/celltrail-apt.log)" >&2
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        $sudo apt-get install -y -qq "${missing[@]}"; } >/tmp/celltrail-apt.log 2>&1; then
      tail -20 /tmp/celltrail-apt.log >&2
      echo "could not install ${missing[*]} with apt-get" >&2
      exit 1
    fi
  fi
}

# pip's own notices (deprecations, a site's unreachable extra index) go to a log, shown only
# when the install fails, so a fresh machine's first screen is the application, not a wall of text.
PIP_LOG=${TMPDIR:-/tmp}/celltrail-pip.log
pip_quiet() {
  if ! .venv/bin/python -m pip "$@" >"$PIP_LOG" 2>&1; then
    tail -30 "$PIP_LOG" >&2
    echo "pip $* failed (full log: $PIP_LOG)" >&2
    exit 1
  fi
}

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "CellTrail needs Python 3.11 or newer ($PY is $("$PY" --version 2>&1))" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  pip_quiet install -q --upgrade pip
fi
if [ "$what" = test ]; then
  # PostgreSQL server binaries for the throwaway test server; poppler for PDF checks by eye.
  if command -v apt-get >/dev/null 2>&1; then
    apt_install postgresql poppler-utils
  fi
  # the suite and the gates .ci/run runs before it (ruff, mypy, import-linter)
  pip_quiet install -q -e '.[dev]'
else
  pip_quiet install -q -e '.[postgres]'
fi
# CellTrail's own modules as bytecode (see the script)
bash scripts/bytecode.sh
