#!/usr/bin/env bash
# Set up netinspect on a fresh machine that has only Python 3.11, pip and apt:
# Graphviz through apt-get where `dot` is missing, a virtualenv in .venv, the package with its extras.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v dot >/dev/null 2>&1; then
  echo "setup: installing Graphviz (apt-get)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${NETINSPECT_EXTRAS:-test}]"
echo "setup: done ($(.venv/bin/netinspect --version), $(dot -V 2>&1))"
