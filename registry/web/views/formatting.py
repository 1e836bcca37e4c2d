"""Small conversions for templates (MLflow keeps times as epoch milliseconds)."""

from __future__ import annotations

from datetime import UTC, datetime


def ms_datetime(ms: int | None) -> datetime | None:
    if ms is None:
        return None
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):  # a client may send any 64-bit number
        return None
