"""Imports every handler module so their routes are registered."""

from __future__ import annotations

from . import registry  # noqa: F401  (registered models, model versions)
