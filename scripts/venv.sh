#!/usr/bin/env bash
# Ensure .venv exists and has the project installed (editable, with test extras).
# Reinstalls only when pyproject.toml is newer than .venv/.installed, so repeated runs are fast.
# Says what it is doing: the first install downloads a few hundred MB and takes minutes, so pip's own progress is
# shown then (PIP_QUIET=-q hides it); later reinstalls only add what changed and stay quiet (PIP_QUIET= shows it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
    echo "venv.sh: [1/3] creating .venv with $PYTHON" >&2
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
    if [ -f .venv/.installed ]; then
        default_quiet=-q
        echo "venv.sh: pyproject.toml changed: updating the project's packages in .venv" >&2
    else
        default_quiet=""
        echo "venv.sh: [2/3] first install of the project into .venv (pip install -e '.[test]')" >&2
        echo "venv.sh:       this downloads Django, Celery, MLflow, scikit-learn, … and takes a few minutes" >&2
    fi
    .venv/bin/python -m pip install ${PIP_QUIET-$default_quiet} -e '.[test]'
    touch .venv/.installed
    echo "venv.sh: [3/3] .venv is ready" >&2
fi
