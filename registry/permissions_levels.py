"""Permission levels, ordered: each includes the ones before it. Stored as django-guardian permissions, one
codename per level and object type (`read_registeredmodel`, `manage_production_experiment`, …)."""

from __future__ import annotations

from typing import Any

LEVELS = ("read", "edit", "manage_staging", "manage_production", "manage")
LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS, start=1)}

_DESCRIPTIONS = {
    "read": "Read",
    "edit": "Edit",
    "manage_staging": "Manage Staging",
    "manage_production": "Manage Production",
    "manage": "Manage",
}

# Typed loosely on purpose: Django's `Meta.permissions` wants (codename, str-or-lazy-str) pairs.
LEVEL_PERMISSIONS: dict[str, list[tuple[str, Any]]] = {
    model: [(f"{level}_{model}", f"{_DESCRIPTIONS[level]} {model}") for level in LEVELS]
    for model in ("registeredmodel", "experiment")
}


def codename(level: str, model: str) -> str:
    return f"{level}_{model}"


def level_of(codename_: str) -> str | None:
    for level in sorted(LEVELS, key=len, reverse=True):
        if codename_.startswith(level + "_"):
            return level
    return None
