#!/usr/bin/env bash
# Set up netinspect on a fresh machine that has only Python 3.11, pip and apt:
# Graphviz and Chromium through apt-get where missing, a virtualenv in .venv, the package with its extras.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: Graphviz for `view`, Chromium and its driver for the HTML viewer's browser tests.
MISSING=""
command -v dot >/dev/null 2>&1 || MISSING="$MISSING graphviz"
[ -x /usr/bin/chromium ] || MISSING="$MISSING chromium"
[ -x /usr/bin/chromedriver ] || MISSING="$MISSING chromium-driver"
if [ -n "$MISSING" ]; then
  echo "setup: installing$MISSING (apt-get)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $MISSING >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${NETINSPECT_EXTRAS:-test}]"
echo "setup: done ($(.venv/bin/netinspect --version), $(dot -V 2>&1))"
