"""Imports every handler module so their routes are registered."""

from __future__ import annotations

from . import registry  # noqa: F401  (registered models, model versions)
from . import tracking as tracking_handlers  # noqa: F401  (experiments, runs, metrics, logged models)
