"""Modelgate's errors: a stable code per kind of failure, mapped to HTTP in exactly one place.

Services raise these without knowing about HTTP; the DRF exception handler below (used by the native API and the
MLflow-compatible API alike) turns any of them, and DRF's and Django's own, into
`{"error_code": CODE, "message": "..."}`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response

from config.unavailable import MESSAGE as UNAVAILABLE_MESSAGE
from config.unavailable import RETRY_AFTER_SECONDS, is_connection_error
from config.unavailable import log as log_unavailable

logger = logging.getLogger(__name__)

HTTP_STATUS = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    # MLflow's client branches on this code with a 400; the native API answers 409 (`NATIVE_STATUS`).
    "RESOURCE_ALREADY_EXISTS": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "TENANT_SUSPENDED": 403,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "ENDPOINT_NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "CONFLICT": 409,
    "IDEMPOTENCY_KEY_REUSED": 422,
    "PRECONDITION_FAILED": 412,
    # Stored bytes no longer match their sha256 (`?verify=1` downloads). A 4xx on purpose: the MLflow client
    # retries 5xx for minutes, and re-reading the same corrupt object cannot succeed.
    "ARTIFACT_CORRUPT": 409,
    "QUOTA_EXCEEDED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "INTERNAL_ERROR": 500,
    "TEMPORARILY_UNAVAILABLE": 503,
}


# Where the native API's answer differs from MLflow's wire protocol (views of the MLflow-compatible API set
# `mlflow_wire = True` and keep MLflow's statuses).
NATIVE_STATUS = {"RESOURCE_ALREADY_EXISTS": 409}

# Where MLflow's client knows the kind of failure under another name. The client reads an `error_code` that is not
# one of its `ErrorCode` names as INTERNAL_ERROR, so on the MLflow wire a stale precondition (a failed gate, an
# expected stage or alias target that moved) is MLflow's own RESOURCE_CONFLICT (409 there too).
MLFLOW_WIRE_CODE = {"CONFLICT": "RESOURCE_CONFLICT"}


class ModelgateError(Exception):
    code = "INTERNAL_ERROR"

    def __init__(self, message: str, *, details: Any = None) -> None:
        # Messages often quote the client's input; a lone surrogate in it would make the JSON reply itself
        # unencodable (a 500 instead of this error), so such characters are shown escaped.
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error_code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


class InvalidParameter(ModelgateError):
    code = "INVALID_PARAMETER_VALUE"


class NotFound(ModelgateError):
    code = "RESOURCE_DOES_NOT_EXIST"


class AlreadyExists(ModelgateError):
    code = "RESOURCE_ALREADY_EXISTS"


class PermissionDenied(ModelgateError):
    code = "PERMISSION_DENIED"


class TenantSuspended(ModelgateError):
    code = "TENANT_SUSPENDED"


class Unauthenticated(ModelgateError):
    code = "UNAUTHENTICATED"


class Conflict(ModelgateError):
    code = "CONFLICT"


class ArtifactCorrupt(ModelgateError):
    code = "ARTIFACT_CORRUPT"


class QuotaExceeded(ModelgateError):
    code = "QUOTA_EXCEEDED"


class EndpointNotFound(ModelgateError):
    code = "ENDPOINT_NOT_FOUND"


class IdempotencyKeyReused(ModelgateError):
    """The same `Idempotency-Key` came with a different request (registry/idempotency.py)."""

    code = "IDEMPOTENCY_KEY_REUSED"


class TemporarilyUnavailable(ModelgateError):
    """A dependency (the database) is momentarily unreachable: retry after `Retry-After` seconds."""

    code = "TEMPORARILY_UNAVAILABLE"


def error_response(code: str, message: str, details: Any = None) -> Response:
    body: dict[str, Any] = {"error_code": code, "message": message}
    if details is not None:
        body["details"] = details
    return Response(body, status=HTTP_STATUS.get(code, 400))


def _flatten_validation(detail: Any, prefix: str = "") -> str:
    if isinstance(detail, dict):
        return "; ".join(
            _flatten_validation(v, f"{prefix}{k}: " if k != "non_field_errors" else prefix)
            for k, v in detail.items()
        )
    if isinstance(detail, list):
        return "; ".join(_flatten_validation(v, prefix) for v in detail)
    return f"{prefix}{detail}"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: every error becomes a JSON body with a stable `error_code`."""
    if isinstance(exc, ModelgateError):
        mlflow_wire = getattr(context.get("view"), "mlflow_wire", False)
        status = exc.status if mlflow_wire else NATIVE_STATUS.get(exc.code, exc.status)
        body = exc.as_dict()
        if mlflow_wire:
            body["error_code"] = MLFLOW_WIRE_CODE.get(exc.code, exc.code)
        response = Response(body, status=status)
    elif isinstance(exc, drf_exceptions.ValidationError):
        response = error_response("INVALID_PARAMETER_VALUE", _flatten_validation(exc.detail), exc.detail)
    elif isinstance(exc, drf_exceptions.ParseError):
        response = error_response("INVALID_PARAMETER_VALUE", f"Malformed request body: {exc.detail}")
    elif isinstance(exc, drf_exceptions.UnsupportedMediaType):
        response = error_response("INVALID_PARAMETER_VALUE", str(exc.detail))
    elif isinstance(exc, (drf_exceptions.NotAuthenticated, drf_exceptions.AuthenticationFailed)):
        response = error_response("UNAUTHENTICATED", str(exc.detail))
    elif isinstance(exc, (drf_exceptions.PermissionDenied, DjangoPermissionDenied)):
        detail = getattr(exc, "detail", None) or "Permission denied."
        response = error_response("PERMISSION_DENIED", str(detail))
    elif isinstance(exc, (drf_exceptions.NotFound, Http404)):
        response = error_response("RESOURCE_DOES_NOT_EXIST", "Not found.")
    elif isinstance(exc, drf_exceptions.MethodNotAllowed):
        response = error_response("METHOD_NOT_ALLOWED", str(exc.detail))
    elif isinstance(exc, drf_exceptions.Throttled):
        response = error_response("RESOURCE_EXHAUSTED", str(exc.detail))
    elif is_connection_error(exc):  # a database blip: retry, not a bug (config/unavailable.py)
        log_unavailable(exc)
        response = error_response("TEMPORARILY_UNAVAILABLE", UNAVAILABLE_MESSAGE)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    elif isinstance(exc, drf_exceptions.APIException):
        response = Response({"error_code": "BAD_REQUEST", "message": str(exc.detail)}, status=exc.status_code)
    else:
        return None  # unexpected: let Django log it and answer 500 (see config.urls handler500)
    if response.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="modelgate"'
    wait = getattr(exc, "wait", None) if isinstance(exc, drf_exceptions.Throttled) else None
    if wait is not None:
        response["Retry-After"] = str(int(wait))  # DRF rounds the wait up to whole seconds
    return response
