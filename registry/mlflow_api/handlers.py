"""Imports every handler module so their routes are registered."""

from __future__ import annotations
