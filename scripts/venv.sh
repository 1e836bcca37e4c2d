#!/usr/bin/env bash
# Ensure .venv exists and has the project installed (editable, with test extras).
# Reinstalls only when pyproject.toml is newer than .venv/.installed, so repeated runs are fast.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
    echo "venv.sh: creating .venv with $PYTHON" >&2
    if ! "$PYTHON" -m venv .venv; then
        echo "venv.sh: could not create .venv (on Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
    rm -f .venv/.installed
fi

if [ ! -f pyproject.toml ]; then
    echo "venv.sh: pyproject.toml not found in $(pwd)" >&2
    exit 1
fi

if [ ! -f .venv/.installed ] || [ pyproject.toml -nt .venv/.installed ]; then
    echo "venv.sh: installing the project into .venv (pip install -e '.[test]')" >&2
    .venv/bin/python -m pip install ${PIP_QUIET--q} -e '.[test]'
    touch .venv/.installed
fi
