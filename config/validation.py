"""Input checks shared by every layer: text PostgreSQL cannot hold, digits that `int()` cannot read.

PostgreSQL refuses NUL in text (a DataError) and a lone UTF-16 surrogate (`"\\ud800"`, valid in JSON, invalid in
UTF-8) cannot even be encoded to send; unchecked, either one reaches the database as a 500, which the MLflow client
retries for minutes. `str.isdigit()` is true for "²" and "٣", which `int()` then refuses. These helpers turn all of
that into 400 `INVALID_PARAMETER_VALUE` (or, for lookups, into "names nothing") before any query runs."""

from __future__ import annotations

import unicodedata
from typing import Any

from .errors import InvalidParameter

# JSON nesting deeper than this is refused before it is walked (MLflow's requests nest three or four levels).
MAX_JSON_DEPTH = 64


def unstorable_reason(text: str) -> str | None:
    """Why PostgreSQL could not store or compare `text`, or None when it can."""
    if "\x00" in text:
        return "NUL characters are not allowed"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode (a lone surrogate)"
    return None


def hidden_character_reason(text: str) -> str | None:
    """Why `text` cannot be a name or a path: it holds a control character (category Cc: NUL, tabs, newlines, DEL,
    C1), a format character (Cf: the bidirectional controls U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C,
    zero-width characters, soft hyphens) or a line/paragraph separator. They render as nothing or reorder what is
    shown, so `evil\u202egnp.exe` would be listed as `evilexe.png`: a name must read as what it is. None when
    clean; ordinary letters of any script pass. Values (descriptions, tag values) may keep newlines and tabs and are
    not checked with this."""
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc":
            return f"control character U+{ord(char):04X} is not allowed"
        if category in ("Cf", "Zl", "Zp"):
            return f"invisible or bidirectional formatting character U+{ord(char):04X} is not allowed"
    return None


def check_name(value: str, what: str) -> str:
    """A name or path (model, alias, tag key, experiment, run, param/metric key, artifact path): storable, and
    without hidden characters (`hidden_character_reason`). 400 INVALID_PARAMETER_VALUE otherwise."""
    check_text(value, what)
    reason = hidden_character_reason(value)
    if reason:
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{what}': {reason}.")
    return value


def is_storable(value: Any) -> bool:
    """A string a lookup can send to the database; anything else names nothing."""
    return isinstance(value, str) and unstorable_reason(value) is None


def check_text(value: str, what: str) -> str:
    reason = unstorable_reason(value)
    if reason:
        raise InvalidParameter(f"Invalid value for parameter '{what}': {reason}.")
    return value


def check_json(data: Any, what: str = "request body") -> Any:
    """Every string (keys and values) of parsed JSON, checked with `check_text`, the nesting bounded. Iterative,
    so no input can exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidParameter(f"The {what} is nested more than {MAX_JSON_DEPTH} levels deep.")
        if isinstance(value, str):
            check_text(value, path or what)
        elif isinstance(value, dict):
            for key, item in value.items():
                key_path = f"{path}.{key}" if path else str(key)
                if isinstance(key, str):
                    reason = unstorable_reason(key)
                    if reason:
                        raise InvalidParameter(f"Invalid key in the {what}: {reason}.")
                stack.append((item, key_path, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{index}]", depth + 1) for index, item in enumerate(value))
    return data


def ascii_digits(text: Any, *, max_length: int = 18) -> bool:
    """`text` is 1 to `max_length` characters of 0-9: unlike `str.isdigit`, not "²" or "٣" (which `int()` refuses),
    and short enough for `int()` (which refuses over 4300 digits) and for a bigint column (18 digits always fit)."""
    return isinstance(text, str) and 0 < len(text) <= max_length and text.isascii() and text.isdigit()
