"""Small helpers every app shares: MLflow's clock and its "a name must not resolve to another path" rule."""

from __future__ import annotations

import posixpath
import re
import time

# MLflow's rule for param, metric and tag names (runs, experiments, models and versions alike).
MLFLOW_NAME_RE = re.compile(r"^[/\w.\- :]*$")


def now_ms() -> int:
    """Epoch milliseconds, the unit MLflow sends and expects for every timestamp."""
    return int(time.time() * 1000)


def path_not_unique(name: str) -> bool:
    """MLflow's rule: names may be used as file names, so a name must not resolve to another name when treated as a
    path (`a/./b`, `a/../b`, `/a`, `.`)."""
    norm = posixpath.normpath(name)
    return norm != name or norm == "." or norm.startswith("..") or norm.startswith("/")
