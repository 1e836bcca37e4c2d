"""A database blip (a restart, a failover, a terminated backend) answers 503 `TEMPORARILY_UNAVAILABLE` with
`Retry-After`, not 500 `INTERNAL_ERROR`: the request did not fail, the database was briefly away, and retrying is
the right move (creates are made safe to retry by `Idempotency-Key`, log-batch by identical points collapsing).

Used by the DRF exception handler (`config.errors`), by `DatabaseUnavailableMiddleware` for every other view, and
by `config.urls.handler500` for errors raised outside any view (a middleware's own query)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 2
MESSAGE = "The database is temporarily unavailable; retry shortly."

# SQLSTATE classes of connection-level failures: 08 connection exception; 57P01 admin shutdown (the backend was
# terminated), 57P02 crash shutdown, 57P03 cannot connect now (the server is starting or stopping).
_CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def is_connection_error(exc: BaseException | None) -> bool:
    """True for errors meaning "the database connection went away", not for a bad query or a constraint."""
    if isinstance(exc, InterfaceError):  # "connection already closed" and friends
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate is None:
        # psycopg reports a lost connection without a SQLSTATE (nothing answered): "server closed the connection
        # unexpectedly", "consuming input failed", "connection failed". A query error always carries one.
        return True
    return str(sqlstate).startswith(_CONNECTION_SQLSTATES)


def body() -> dict[str, Any]:
    return {"error_code": "TEMPORARILY_UNAVAILABLE", "message": MESSAGE}


def response() -> JsonResponse:
    res = JsonResponse(body(), status=503)
    res["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return res


def log(exc: BaseException) -> None:
    logger.warning("database unavailable, answering 503: %s: %s", type(exc).__name__, exc)


class DatabaseUnavailableMiddleware:
    """For views outside DRF (web pages, health, artifact downloads): a connection-level database error is a 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if is_connection_error(exception):
            log(exception)
            return response()
        return None
