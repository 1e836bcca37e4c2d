"""Webhook settings. Each is read from Django settings when set there (tests use the `settings` fixture), else from
the environment variable of the same name, else the default; read at call time so a change applies at once."""

from __future__ import annotations

import os

from django.conf import settings

# Delays before the 2nd, 3rd, … attempt; the last one repeats until the attempts run out.
DEFAULT_BACKOFF = "10,30,60,300,900,3600"


def _raw(name: str, default: str) -> str:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return str(value) if not isinstance(value, (list, tuple)) else ",".join(str(v) for v in value)


def allow_private() -> bool:
    """MODELGATE_WEBHOOK_ALLOW_PRIVATE: deliver to loopback/private/link-local addresses (off: SSRF protection)."""
    value = getattr(settings, "MODELGATE_WEBHOOK_ALLOW_PRIVATE", None)
    if isinstance(value, bool):
        return value
    raw = str(value) if value is not None else os.environ.get("MODELGATE_WEBHOOK_ALLOW_PRIVATE", "false")
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def connect_timeout() -> float:
    return float(_raw("MODELGATE_WEBHOOK_CONNECT_TIMEOUT", "5"))


def read_timeout() -> float:
    return float(_raw("MODELGATE_WEBHOOK_TIMEOUT", "10"))


def max_attempts() -> int:
    return max(1, int(_raw("MODELGATE_WEBHOOK_MAX_ATTEMPTS", "8")))


def backoff_seconds(attempts_made: int) -> float:
    """How long to wait after the `attempts_made`-th failed attempt (MODELGATE_WEBHOOK_BACKOFF, seconds)."""
    steps = [float(s) for s in _raw("MODELGATE_WEBHOOK_BACKOFF", DEFAULT_BACKOFF).split(",") if s.strip()]
    if not steps:
        return 0.0
    return steps[min(max(attempts_made, 1), len(steps)) - 1]


def stale_after_seconds() -> float:
    """A delivery `delivering` for longer than this lost its worker: the requeue sweep hands it out again. Well
    beyond one attempt's connect + read timeouts, so a slow but live attempt is not sent twice."""
    return float(
        _raw("MODELGATE_WEBHOOK_STALE_SECONDS", str(int(3 * (connect_timeout() + read_timeout()) + 30)))
    )
