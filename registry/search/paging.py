"""Page tokens (MLflow's opaque shape), page sizes and one page of a queryset."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from config.errors import InvalidParameter

# --- page tokens -------------------------------------------------------------------------------------------------


def encode_page_token(offset: int) -> str:
    """MLflow's token shape: base64 of `{"offset": N}` (opaque to the client)."""
    return base64.b64encode(json.dumps({"offset": int(offset)}).encode()).decode()


MAX_PAGE_OFFSET = 2**53  # far beyond any result set; offset + page size still fits a bigint


def decode_page_token(token: str | None) -> int:
    """The offset in a page token (0 for none). A token we did not make is a 400, never a 500."""
    if token in (None, ""):
        return 0
    if not isinstance(token, str) or len(token) > 1000:
        raise InvalidParameter("Invalid page token.")
    try:
        data = json.loads(base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8"))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidParameter("Invalid page token, could not base64-decode.") from exc
    offset = data.get("offset") if isinstance(data, dict) else None
    # Bounded: a forged offset past PostgreSQL's bigint would be a database error (OFFSET out of range), a 500.
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_PAGE_OFFSET:
        raise InvalidParameter("Invalid page token: bad offset.")
    return offset


def page_size(value: Any, *, default: int, maximum: int, what: str = "max_results") -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(inf)
        raise InvalidParameter(
            f"Invalid value {value!r} for parameter '{what}': expected an integer."
        ) from exc
    if number < 1:
        raise InvalidParameter(f"Invalid value {number} for parameter '{what}': must be at least 1.")
    if number > maximum:
        raise InvalidParameter(
            f"Invalid value {number} for parameter '{what}' supplied. It must be at most {maximum}."
        )
    return number


def page(qs, offset: int, size: int) -> tuple[list, str | None]:
    """One page of a queryset (fetching one row more to know whether another page follows)."""
    rows = list(qs[offset : offset + size + 1])
    if len(rows) > size:
        return rows[:size], encode_page_token(offset + size)
    return rows, None
