"""Throttling of FAILED API authentication, per client address and per account (the token's visible prefix).

Counters live in the shared Redis cache (`django.core.cache`, alias `throttle`: the default cache with short
socket timeouts and no retries), in fixed windows of `WINDOW_SECONDS`:

- every failed authentication adds one to `authfail:addr:<address>:<window>` and `authfail:acct:<prefix>:<window>`;
- when an address reaches its limit, `authblock:addr:<address>` is set for one window length: from then on every
  request from that address carrying credentials answers 429 before the token is even looked up;
- when an account reaches its limit, further FAILURES for it answer 429 until the window ends; a good token is not
  refused (the prefix is visible, so blocking it outright would let anyone lock its owner out, and the 240-bit
  secret behind it cannot be guessed anyway).

The success path costs one cache GET (is this address blocked?) and nothing else; counters are only touched after
a failure. Redis down must not break authentication: every cache error is logged and ignored (fail open), and Redis
is then left alone for `BACKOFF_SECONDS` so an outage costs at most one short timeout per process every few seconds.

The login form and the admin login are throttled by django-axes (settings `AXES_*`); `lockout_response` is its
lockout page and `client_address` its idea of the client's address.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)

BACKOFF_SECONDS = 5.0
_down_until = 0.0


def _conf() -> dict[str, Any]:
    return settings.MODELGATE_AUTH_THROTTLE


def _cache():
    return caches["throttle"]


def client_address(request: HttpRequest) -> str:
    """The client's address. Behind a TLS proxy (BEHIND_TLS_PROXY) the proxy appends the address it saw to
    X-Forwarded-For: take the entry `TRUSTED_PROXIES` from the right. Anything further left was written by the
    client and could be anything, and without a proxy the header is not ours at all, so REMOTE_ADDR it is."""
    remote = request.META.get("REMOTE_ADDR", "") or "unknown"  # a request built in-process (force_login)
    if not getattr(settings, "BEHIND_TLS_PROXY", False):
        return remote
    forwarded = [
        part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    proxies = max(1, int(_conf().get("TRUSTED_PROXIES", 1)))
    if len(forwarded) >= proxies:
        return forwarded[-proxies][:100]
    return remote


def _available() -> bool:
    return _conf().get("ENABLED", True) and time.monotonic() >= _down_until


def _failed(exc: Exception) -> None:
    global _down_until
    _down_until = time.monotonic() + BACKOFF_SECONDS
    logger.warning(
        "Authentication throttling is off for %ss: the cache is unavailable (%s)", BACKOFF_SECONDS, exc
    )


def _window() -> tuple[int, int]:
    """(window number, seconds until it ends)."""
    length = int(_conf()["WINDOW_SECONDS"])
    now = time.time()
    number = int(now // length)
    return number, max(1, math.ceil((number + 1) * length - now))


def blocked_for(address: str) -> int | None:
    """Seconds the address must still wait, or None when it may try. One cache GET."""
    if not _available():
        return None
    try:
        until = _cache().get(f"authblock:addr:{address}")
    except Exception as exc:  # any cache error: fail open
        _failed(exc)
        return None
    if until is None:
        return None
    remaining = math.ceil(float(until) - time.time())
    return remaining if remaining > 0 else None


def _count(key: str, timeout: int) -> int:
    cache = _cache()
    cache.add(key, 0, timeout=timeout)  # starts the window's counter; a no-op when it exists
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1


def record_failure(
    request: HttpRequest, *, address: str, account: str | None, token: Any = None
) -> int | None:
    """Count one failed authentication; answer how many seconds to refuse for, or None to answer the failure as
    usual. `token` is the ApiToken row when the secret matched one (revoked, expired, inactive user): it names the
    tenant of the lockout's audit event."""
    if not _available():
        return None
    conf = _conf()
    number, remaining = _window()
    timeout = remaining + 1
    wait: int | None = None
    try:
        if account:
            failures = _count(f"authfail:acct:{account}:{number}", timeout)
            if failures == conf["ACCOUNT_LIMIT"]:
                _lockout(
                    request, kind="account", ident=account, failures=failures, wait=remaining, token=token
                )
            if failures > conf["ACCOUNT_LIMIT"]:
                wait = remaining
        failures = _count(f"authfail:addr:{address}:{number}", timeout)
        if failures >= conf["ADDRESS_LIMIT"]:
            # The block lasts a whole window from now, whenever in its window the limit was reached. add(): only
            # the request that sets the block records the lockout, however many arrive at once.
            length = int(conf["WINDOW_SECONDS"])
            if _cache().add(f"authblock:addr:{address}", time.time() + length, timeout=length):
                _lockout(request, kind="address", ident=address, failures=failures, wait=length, token=token)
            if failures > conf["ADDRESS_LIMIT"]:
                wait = length
    except Exception as exc:  # any cache error: fail open
        _failed(exc)
        return None
    return wait


def _lockout(request: HttpRequest, *, kind: str, ident: str, failures: int, wait: int, token: Any) -> None:
    """One audit event per lockout, in the tenant the failures were aimed at when it is known (the matched token's
    tenant, else the tenant named by the URL or workspace header), else a log line."""
    from registry import events
    from tenants.models import Tenant

    details = {
        "kind": kind,
        "address": client_address(request),
        "account": ident if kind == "account" else None,
        "failures": failures,
        "retry_after": wait,
        "path": request.path[:200],
    }
    logger.warning("Authentication locked out: %s", details)
    try:
        tenant = getattr(token, "tenant", None)
        slug = getattr(request, "tenant_slug", None)
        if tenant is None and slug:
            tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            return
        with transaction.atomic(durable=True):
            events.emit(tenant=tenant, actor=None, action="auth.locked_out", obj=tenant, after=details)
    except Exception:  # the refusal must not fail because the audit could not be written; say so loudly
        logger.exception("Could not record an authentication lockout in the audit log: %s", details)


# --- django-axes (the login form and the admin login) ----------------------------------------------------------


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' backend for sign-ins over HTTP. `authenticate()` without a request (Django's test client
    `login()`, scripts) has no client address to throttle by, and axes would refuse it outright: it is left to
    the next backend instead."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ):  # type: ignore[override]
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def axes_client_address(request: HttpRequest) -> str | None:
    """`client_address` for django-axes, which stores it in an IP address column: None when there is none."""
    address = client_address(request)
    return None if address == "unknown" else address


def login_lockout_response(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    """django-axes' lockout answer: a page saying what happened and when to try again, 429 with Retry-After."""
    wait = int(settings.AXES_COOLOFF_TIME.total_seconds())
    response = render(
        request,
        "registration/locked_out.html",
        {"minutes": max(1, math.ceil(wait / 60))},
        status=429,
    )
    response["Retry-After"] = str(wait)
    return response


def on_login_locked_out(
    sender: Any, request: HttpRequest | None = None, username: str | None = None, **kwargs: Any
):
    """A web sign-in names no tenant (one person can belong to several), so its lockout is a log line."""
    logger.warning(
        "Sign-in locked out: username=%r address=%s path=%s",
        username,
        client_address(request) if request is not None else kwargs.get("ip_address"),
        getattr(request, "path", ""),
    )
