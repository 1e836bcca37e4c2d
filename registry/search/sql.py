"""Parsed clauses into ORM lookups: LIKE translation and Q builders. Values are always bound parameters."""

from __future__ import annotations

import re
from typing import Any

from django.db.models import Q

from config.errors import InvalidParameter

# --- LIKE --------------------------------------------------------------------------------------------------------


def _like_parts(pattern: str) -> list[tuple[str, str]]:
    """Split a LIKE pattern into ("lit", text) / ("any", "%") / ("one", "_") parts. A backslash escapes the next
    character, as PostgreSQL's LIKE does by default."""
    parts: list[tuple[str, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            literal.append(pattern[i + 1])
            i += 2
            continue
        if ch in "%_":
            if literal:
                parts.append(("lit", "".join(literal)))
                literal = []
            parts.append(("any" if ch == "%" else "one", ch))
        else:
            literal.append(ch)
        i += 1
    if literal:
        parts.append(("lit", "".join(literal)))
    return parts


def like_regex(pattern: str) -> str:
    """An anchored regular expression equivalent to a LIKE pattern; every literal character is escaped."""
    out = []
    for kind, text in _like_parts(pattern):
        out.append(".*" if kind == "any" else "." if kind == "one" else re.escape(text))
    return "^" + "".join(out) + "$"


def apply_like(pattern: str, *, case_sensitive: bool = True) -> tuple[str, str | bool]:
    """Turn a LIKE pattern into a Django lookup and its value, e.g. `"%churn%"` → `("contains", "churn")`.

    Simple shapes map to `exact`/`startswith`/`endswith`/`contains` (Django escapes their wildcards itself); the rest
    become an anchored `regex` whose literal parts are escaped, so no character of the pattern is ever SQL."""
    parts = _like_parts(pattern)
    kinds = [k for k, _ in parts]
    prefix = "" if case_sensitive else "i"
    if "one" not in kinds:
        literals = [t for k, t in parts if k == "lit"]
        if kinds == ["lit"] or not kinds:
            return prefix + "exact", "".join(literals)
        if kinds == ["lit", "any"]:
            return prefix + "startswith", literals[0]
        if kinds == ["any", "lit"]:
            return prefix + "endswith", literals[0]
        if kinds == ["any", "lit", "any"]:
            return prefix + "contains", literals[0]
        if all(k == "any" for k in kinds):
            return "isnull", False  # "%" matches every value
    return prefix + "regex", like_regex(pattern)


def like_q(field: str, pattern: str, *, case_sensitive: bool = True) -> Q:
    lookup, value = apply_like(pattern, case_sensitive=case_sensitive)
    return Q(**{f"{field}__{lookup}": value})


def like_match(value: str | None, pattern: str, *, case_sensitive: bool = True) -> bool:
    """The same LIKE semantics in Python (for filtering rows already loaded)."""
    if value is None:
        return False
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    return re.match(like_regex(pattern), value, flags) is not None


def string_q(field: str, op: str, value: Any) -> Q:
    """A Q for a string comparison clause (`=`, `!=`, `LIKE`, `ILIKE`, `IN`, `NOT IN`) on one field."""
    if op == "=":
        return Q(**{field: value})
    if op == "!=":
        return ~Q(**{field: value})
    if op == "LIKE":
        return like_q(field, value, case_sensitive=True)
    if op == "ILIKE":
        return like_q(field, value, case_sensitive=False)
    if op == "IN":
        return Q(**{f"{field}__in": list(value)})
    if op == "NOT IN":
        return ~Q(**{f"{field}__in": list(value)})
    raise InvalidParameter(f"Invalid comparator '{op}' for a string.")


NUMERIC_LOOKUPS = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}


def numeric_q(field: str, op: str, value: float | int) -> Q:
    if op == "!=":
        return ~Q(**{field: value})
    lookup = NUMERIC_LOOKUPS.get(op)
    if lookup is None:
        raise InvalidParameter(f"Invalid comparator '{op}' for a number.")
    return Q(**{f"{field}__{lookup}": value})
