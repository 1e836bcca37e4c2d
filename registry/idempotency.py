"""Idempotency keys for the native API's creates: a client that retries `POST` (after a timeout, a 503, a dropped
connection) with the same `Idempotency-Key` header gets the first answer again instead of a second object.

How it stays exact: the key is claimed by a `registry.events` subscriber, i.e. in the SAME transaction as the
create (the row names the created object). So either the object and the claim commit together or neither does:
a retry after any failure finds either nothing (and creates) or the claim (and replays). Two concurrent requests
with one key collide on the unique (tenant, key) constraint; the loser's whole transaction rolls back and it
replays the winner's answer. After the view answers, the response itself is stored on the row; should that write
be lost, a replay answers `303 See Other` pointing at the created object.

Same key, different request (body, endpoint or caller) → 422 `IDEMPOTENCY_KEY_REUSED`. Keys live for
`MODELGATE_IDEMPOTENCY_TTL_HOURS` (24) hours; expired rows are replaced when their key comes back."""

from __future__ import annotations

import contextvars
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, models
from django.utils import timezone
from rest_framework.response import Response

from config.errors import IdempotencyKeyReused, InvalidParameter
from registry import events

if TYPE_CHECKING:
    from registry.models import AuditEvent

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# The audit actions that are a create an idempotency key covers.
CREATE_ACTIONS = frozenset({"registered_model.created", "model_version.created"})


def ttl() -> timedelta:
    return timedelta(hours=float(getattr(settings, "MODELGATE", {}).get("IDEMPOTENCY_TTL_HOURS", 24)))


class IdempotencyKey(models.Model):
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=MAX_KEY_LENGTH)
    # SHA-256 of the method, path, caller and canonical JSON body: "the same request".
    fingerprint = models.CharField(max_length=64)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100)
    location = models.CharField(max_length=2000, blank=True)
    response_status = models.IntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        app_label = "registry"
        constraints = [models.UniqueConstraint(fields=["tenant", "key"], name="idempotencykey_unique")]

    def __str__(self) -> str:
        return f"{self.tenant_id}:{self.key}"


@dataclass
class _Claim:
    tenant_id: int
    key: str
    fingerprint: str
    claimed_id: int | None = None


_current: contextvars.ContextVar[_Claim | None] = contextvars.ContextVar(
    "modelgate_idempotency", default=None
)


@events.subscribe
def _claim_on_create(event: AuditEvent) -> None:
    """Runs inside the create's transaction: the claim commits (or rolls back) with the object."""
    claim = _current.get()
    if claim is None or claim.claimed_id is not None or event.action not in CREATE_ACTIONS:
        return
    if event.tenant_id != claim.tenant_id:
        return
    row = IdempotencyKey.objects.create(
        tenant_id=claim.tenant_id,
        key=claim.key,
        fingerprint=claim.fingerprint,
        object_type=event.object_type,
        object_id=event.object_id,
        location=_location(event),
        expires_at=timezone.now() + ttl(),
    )
    claim.claimed_id = row.pk


def _location(event: AuditEvent) -> str:
    """The created object's URL in the native API (the replay's fallback points there)."""
    from registry.models import RegisteredModel

    if event.model_id is None:
        return ""
    name = RegisteredModel.objects.filter(pk=event.model_id).values_list("name", flat=True).first()
    if name is None:
        return ""
    base = f"/t/{event.tenant.slug}/api/v1/models/{name}"
    return f"{base}/versions/{event.version}" if event.action == "model_version.created" else base


def fingerprint(request: Any, user_id: Any) -> str:
    try:
        body: Any = request.data
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    except Exception:  # an unparsable body is its own fingerprint: the view refuses it anyway
        canonical = repr(getattr(request, "body", b""))
    raw = "\n".join([request.method, request.path, str(user_id), canonical])
    return hashlib.sha256(raw.encode("utf-8", "backslashreplace")).hexdigest()


def _key_from(request: Any) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidParameter(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.")
    return key


Render = Callable[[Any, int], Response]


def _replay(view: Any, request: Any, row: IdempotencyKey, fp: str, render: Render | None) -> Response:
    if row.fingerprint != fp:
        raise IdempotencyKeyReused(
            f"{HEADER} '{row.key}' was already used for a different request; use a new key for a new request."
        )
    location = request.build_absolute_uri(row.location) if row.location else ""
    if row.response_status is not None:
        response = Response(row.response_body, status=row.response_status)
    elif render is not None and row.object_id.isdigit():
        # The object was created but its answer was lost (the request failed after the commit): answer it anew.
        response = render(view, int(row.object_id))
    else:
        response = Response(
            {
                "message": "Already created by an earlier request with this Idempotency-Key.",
                "location": location,
            },
            status=303,
        )
    if location:
        response["Location"] = location
    response["Idempotent-Replayed"] = "true"
    return response


def _existing(tenant_id: int, key: str) -> IdempotencyKey | None:
    row = IdempotencyKey.objects.filter(tenant_id=tenant_id, key=key).first()
    if row is not None and row.expires_at <= timezone.now():
        row.delete()  # expired: the key may be used afresh
        return None
    return row


def idempotent(render: Render | None = None) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Decorate a TenantAPIView's create handler (`post`). Without the header nothing changes. `render(view, pk)`
    answers for the created object when its stored answer is missing (else the replay is a 303 to it)."""

    def decorate(handler: Callable[..., Response]) -> Callable[..., Response]:
        @functools.wraps(handler)
        def wrapper(view: Any, request: Any, *args: Any, **kwargs: Any) -> Response:
            key = _key_from(request)
            if key is None:
                return handler(view, request, *args, **kwargs)
            tenant_id = view.principal.tenant.pk
            fp = fingerprint(request, getattr(view.principal.user, "pk", None))
            row = _existing(tenant_id, key)
            if row is not None:
                return _replay(view, request, row, fp, render)
            claim = _Claim(tenant_id=tenant_id, key=key, fingerprint=fp)
            token = _current.set(claim)
            try:
                response = handler(view, request, *args, **kwargs)
            except IntegrityError:
                # A concurrent request with this key won the unique constraint; this one's transaction rolled
                # back, so nothing of it exists: answer what the winner answered.
                row = _existing(tenant_id, key)
                if row is None:
                    raise
                return _replay(view, request, row, fp, render)
            finally:
                _current.reset(token)
            if claim.claimed_id is not None and 200 <= response.status_code < 300:
                # Stored after the commit; if this write is lost, a replay renders the object again.
                IdempotencyKey.objects.filter(pk=claim.claimed_id).update(
                    response_status=response.status_code, response_body=response.data
                )
            return response

        return wrapper

    return decorate


def purge_expired() -> int:
    """Delete expired keys (beat task `modelgate.purge_idempotency_keys`); returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


__all__ = ["HEADER", "IdempotencyKey", "IdempotencyKeyReused", "idempotent", "purge_expired"]
