"""The MLflow-compatible API: one DRF view dispatches `(method, path)` to a handler from a route table.

Handlers live in `tracking.py`, `registry.py` (and `artifacts.py` for the artifact proxy), registered with
`@route("POST", "mlflow/runs/create")` (paths relative to `/api/2.0/`, or `/api/3.0/` with `version="3.0"`).
A handler takes a `Call` and returns a dict (sent as JSON, 200) or an HttpResponse. Unknown paths answer a JSON 404
`ENDPOINT_NOT_FOUND` (the client's POST→GET fallback for get-latest-versions relies on it). Protocol shapes live
here, in the API layer; handlers call services and selectors only."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, overload

from django.http import HttpResponse
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from config.errors import EndpointNotFound, InvalidParameter
from config.validation import check_json, check_text
from tenants.access import Principal
from tenants.api import TenantAPIView

Handler = Callable[["Call"], Any]
_ROUTES: dict[tuple[str, str, str], Handler] = {}
_PATTERN_ROUTES: list[tuple[str, str, re.Pattern, Handler]] = []


def route(method: str, path: str, *, version: str = "2.0") -> Callable[[Handler], Handler]:
    """Register a handler. `path` may hold `{name}` segments (e.g. `mlflow/logged-models/{model_id}`)."""

    def decorator(fn: Handler) -> Handler:
        if "{" in path:
            regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
            _PATTERN_ROUTES.append((version, method, regex, fn))
        else:
            _ROUTES[(version, method, path)] = fn
        return fn

    return decorator


def resolve(version: str, method: str, path: str) -> tuple[Handler, dict[str, str]]:
    handler = _ROUTES.get((version, method, path))
    if handler is not None:
        return handler, {}
    for v, m, regex, fn in _PATTERN_ROUTES:
        if v == version and m == method:
            match = regex.match(path)
            if match:
                return fn, match.groupdict()
    raise EndpointNotFound(f"No MLflow endpoint {method} /api/{version}/{path}.")


class Call:
    """One MLflow API call: the principal, the path arguments and the request's parameters (query string for
    GET, JSON body otherwise; the MLflow client sends DELETE with a JSON body)."""

    def __init__(self, request, principal: Principal, path_args: dict[str, str]):
        self.request = request
        self.principal = principal
        self.tenant = principal.tenant
        self.user = principal.user
        self.path_args = path_args
        for key, value in path_args.items():
            check_text(value, key)
        self._query = request.query_params
        for key, values in self._query.lists():  # %00 decodes to NUL (surrogates cannot arrive this way)
            for value in values:
                check_text(value, key)
        if request.method in ("GET", "HEAD"):
            self._body: dict[str, Any] = {}
        else:
            data = request.data if request.body else {}
            if not isinstance(data, dict):
                raise InvalidParameter("The request body must be a JSON object.")
            self._body = data

    def get(self, name: str, default: Any = None) -> Any:
        if name in self._body:
            return self._body[name]
        if name in self._query:
            return self._query.get(name)
        return default

    def getlist(self, name: str) -> list[Any]:
        if name in self._body:
            value = self._body[name]
            if value is None:
                return []
            if not isinstance(value, list):
                raise InvalidParameter(f"Invalid value for parameter '{name}': expected a list.")
            return value
        return self._query.getlist(name)

    def require(self, name: str, *aliases: str) -> Any:
        for key in (name, *aliases):
            value = self.get(key)
            if value not in (None, ""):
                return value
        raise InvalidParameter(
            f"Missing value for required parameter '{name}'. See the API docs for more "
            f"information about request parameters."
        )

    def string(self, name: str, *aliases: str) -> str:
        """A required string parameter (400 when missing or empty)."""
        return self._as_string(name, self.require(name, *aliases))

    @overload
    def optional_string(self, name: str, *aliases: str, default: str) -> str: ...

    @overload
    def optional_string(self, name: str, *aliases: str, default: None = None) -> str | None: ...

    def optional_string(self, name: str, *aliases: str, default: str | None = None) -> str | None:
        """An optional string parameter: the first of `name`, `aliases` that is present, else `default`."""
        value = next((self.get(k) for k in (name, *aliases) if self.get(k) is not None), None)
        return default if value is None else self._as_string(name, value)

    @staticmethod
    def _as_string(name: str, value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidParameter(f"Invalid value {value!r} for parameter '{name}': expected a string.")
        return str(value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        if value in (None, ""):
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise InvalidParameter(f"Invalid value {value!r} for parameter '{name}': expected a boolean.")


def json_double(value: float) -> float | str:
    """MLflow's JSON for doubles: NaN and ±inf as strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


class MlflowJSONParser(JSONParser):
    """JSON bodies whatever their content type (the MLflow client always sends JSON), NaN/Infinity allowed."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read() if stream is not None else b""
        if not raw:
            return {}
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidParameter(f"Malformed JSON request body: {exc}") from exc
        except (
            RecursionError
        ) as exc:  # `[[[[…` thousands deep exhausts the decoder's stack: the body is at fault
            raise InvalidParameter("Malformed JSON request body: nested too deeply.") from exc
        # Strings PostgreSQL cannot hold (NUL, lone surrogates) are refused here, once for every handler, instead
        # of surfacing as a database error (a 500 the client would retry) wherever a field reaches a query.
        return check_json(data)


class MlflowApiView(TenantAPIView):
    parser_classes = [MlflowJSONParser]
    mlflow_wire = True  # MLflow's error statuses (RESOURCE_ALREADY_EXISTS is a 400 there)
    version = "2.0"
    schema = None  # MLflow's API is documented by MLflow; the OpenAPI schema covers the native API

    def handle_call(self, request, api_path: str, **kwargs):
        handler, path_args = resolve(self.version, request.method, api_path)
        result = handler(Call(request, self.principal, path_args))
        if isinstance(result, (HttpResponse, Response)):
            return result
        return Response(result if result is not None else {})

    def get(self, request, api_path: str, tenant: str | None = None):
        return self.handle_call(request, api_path)

    post = patch = delete = put = get


class Mlflow3ApiView(MlflowApiView):
    version = "3.0"
