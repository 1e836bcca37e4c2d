"""Which requests the serving fast path (`registry.fastpath`) may answer, and what they ask: the request read as
`registry.mlflow_api.base.Call` and `accounts.authentication.TokenAuthentication` read it, so a request they would
refuse or read differently never qualifies (the full path then answers it, errors included)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.http import HttpRequest

from accounts import tokens
from config.validation import check_json, unstorable_reason
from tenants.middleware import tenant_slug_for

PATH_RE = re.compile(
    r"^(?:/t/[^/]+)?/(?:api|ajax-api)/2\.0/mlflow/"
    r"(?P<op>registered-models/alias|registered-models/get-latest-versions|model-versions/get)$"
)
_KINDS = {
    ("GET", "registered-models/alias"): "alias",
    ("GET", "registered-models/get-latest-versions"): "latest",
    ("POST", "registered-models/get-latest-versions"): "latest",
    ("GET", "model-versions/get"): "version",
}
_ACCEPTS = frozenset(
    {"", "*/*", "application/json"}
)  # DRF's negotiation picks JSON for these, the only renderer

# KEYS: read-cache generation, auth generation (tenant), auth generation (global), throttle block of the address.
# ARGV: entry key before / after its generation, expected auth generations (tenant, global), "1" to count the
# usage (the caller reads every model of the tenant), usage key before / after "<model>:<version>", usage field.


@dataclass(frozen=True)
class Plan:
    kind: str
    parts: tuple[str, ...]
    secret: str = field(repr=False)
    token_hash: str
    slug: str
    secure: bool


def plan_for(request: HttpRequest) -> Plan | None:
    method = request.method or ""
    if method not in ("GET", "POST"):
        return None
    match = PATH_RE.match(request.path_info)
    if match is None:
        return None
    kind = _KINDS.get((method, match.group("op")))
    if kind is None:
        return None
    meta = request.META
    if meta.get("HTTP_ACCEPT", "").strip() not in _ACCEPTS or connection.in_atomic_block:
        return None
    secret = _secret(meta.get("HTTP_AUTHORIZATION", ""))
    if secret is None:
        return None
    slug = tenant_slug_for(request)
    if not slug:
        return None
    secure = request.is_secure()
    if settings.SECURE_SSL_REDIRECT and not secure:
        return None
    if not _host_allowed(request):
        return None
    parts = _parts(request, kind)
    if parts is None:
        return None
    return Plan(
        kind=kind, parts=parts, secret=secret, token_hash=tokens.digest(secret), slug=slug, secure=secure
    )


_hosts: dict[tuple[str, ...], bool] = {}


def _host_allowed(request: HttpRequest) -> bool:
    """`request.get_host()` succeeds (else Django answers 400), remembered per host headers: it is the same answer
    for the same headers, and validating costs more than the rest of a qualifying check."""
    meta = request.META
    names = ("HTTP_X_FORWARDED_HOST", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "HTTP_X_FORWARDED_PORT")
    # The settings can change (tests): so can the answer.
    key = (*(str(meta.get(name, "")) for name in names), *settings.ALLOWED_HOSTS)
    allowed = _hosts.get(key)
    if allowed is None:
        try:
            request.get_host()
            allowed = True
        except DisallowedHost:
            allowed = False
        if len(_hosts) > 1000:
            _hosts.clear()
        _hosts[key] = allowed
    return allowed


def _secret(header: str) -> str | None:
    """As `accounts.authentication.TokenAuthentication` reads the header (Bearer, or Basic with the token as the
    password); None for anything it would not accept as a token."""
    scheme, _, value = header.strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer":
        secret = value
    elif scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _user, sep, secret = decoded.partition(":")
        if not sep:
            return None
    else:
        return None
    return secret if tokens.looks_like_token(secret) else None


def _parts(request: HttpRequest, kind: str) -> tuple[str, ...] | None:
    """The view's parameters, read as `registry.mlflow_api.base.Call` reads them; None where it would refuse them
    (the full path then gives its own error)."""
    query = request.GET
    if "format" in query:  # DRF's format override
        return None
    for _key, values in query.lists():
        if any(unstorable_reason(v) for v in values):
            return None
    body: dict[str, Any] = {}
    if request.method == "POST":
        if not request.META.get("CONTENT_TYPE", "").startswith("application/json"):
            return None  # DRF parses no body without a content type
        try:
            raw = request.body
            data = json.loads(raw.decode("utf-8")) if raw else {}
            if not isinstance(data, dict):
                return None
            body = check_json(data)
        except Exception:  # anything the full path's parser refuses, it explains
            return None

    def string(name: str) -> str | None:
        value = body[name] if name in body else query.get(name)
        if value in (None, "") or isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        return str(value)

    name = string("name")
    if name is None:
        return None
    if kind == "latest":
        stages: Any = body["stages"] if "stages" in body else query.getlist("stages")
        if stages is None:
            stages = []
        if not isinstance(stages, list):
            return None
        return (name, *(str(s) for s in stages))
    second = string("alias" if kind == "alias" else "version")
    return None if second is None else (name, second)
