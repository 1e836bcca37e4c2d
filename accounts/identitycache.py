"""Who a token is, remembered in process memory for a few seconds, for the serving fast path (`registry.fastpath`).

An `Identity` is what the fast path needs to know about a caller (tenant, role-derived read rights, teams, scopes,
expiry) taken from a principal the full path built from the database. It is only ever used after checking, in the
same Redis round trip as the read cache's generation, that the caller's **auth generations** have not moved since
it was loaded: a per-tenant counter and a global one (`<prefix>:auth:gen:<tenant_id>`, `<prefix>:auth:gen:all`).

Every change that can affect a caller bumps one of them with `transaction.on_commit`, so the next request after
the commit sees a new generation and goes back to the database:
- per tenant: token created, revoked, scopes or expiry changed, deleted; membership created, role changed, removed;
  service account changed; team changed or deleted; tenant changed (suspension, `members_read_all`, …);
- global (a user can be in many tenants): user changed (deactivated, password, …) or deleted, team membership
  added or removed.
The services bump explicitly where they write with `QuerySet.update()` (which sends no signal); model signals
below cover every `save()`/`delete()`, the Django admin included.

The generations are read BEFORE the database lookup whose result is remembered: a change committing in between
leaves the identity under the old generation, which no later check accepts.

Redis trouble: with Redis unreachable the fast path is off and every request is looked up in the database. A bump
that fails (after a retry) is kept in this process, and this process uses no remembered identity until the bump
lands. The one case left: Redis fails exactly at a bump and recovers before this process retries; other processes
may then use an identity remembered before the change for at most `TTL_SECONDS` after they loaded it."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from config.fastredis import FailFastRedis

logger = logging.getLogger(__name__)

# How long a remembered identity may be used at all, however valid its generations: the bound on a lost bump.
TTL_SECONDS = 5.0
_MAX_ENTRIES = (
    10_000  # tokens remembered per process; past this the memory starts over (a burst of new tokens)
)

# Back off 1 s, not 5, after a failure: on a loaded machine a lone slow reply (a timeout of 0.2 s) is far more
# common than an outage, and each back-off sends every serving read of the process to the database meanwhile.
_redis = FailFastRedis(backoff=1.0)
_lock = threading.Lock()
_identities: dict[str, Identity] = {}
_tenant_hint: dict[
    str, int
] = {}  # token hash -> its tenant id, so its generations can be read before a lookup
_pending_bumps: set[str] = (
    set()
)  # generation keys whose bump failed: retried before a remembered identity is used


@dataclass(frozen=True)
class Identity:
    token_hash: str
    tenant_id: int
    tenant_slug: str
    username: str
    reads_all: bool  # reads every model of the tenant without grants (tenant admin, or members' default read)
    can_read: bool  # the token has the `read` scope
    team_ids: frozenset[int]
    expires_at: datetime | None
    last_used_at: datetime | None
    generations: tuple[str, str]  # (tenant, global) auth generations read before the lookup
    loaded_at: float


def connect(url: str | None = None) -> redis.ConnectionPool:
    return _redis.connect(url)


def _prefix() -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX') or 'modelgate'}:auth:gen"


def generation_keys(tenant_id: int) -> tuple[str, str]:
    """(tenant key, global key)."""
    prefix = _prefix()
    return f"{prefix}:{tenant_id}", f"{prefix}:all"


def _text(value: Any) -> str:
    if value is None:
        return "0"
    return value.decode() if isinstance(value, bytes) else str(value)


def flush_pending(client: redis.Redis) -> bool:
    """Retry the bumps that failed. True when none is left (remembered identities may be used)."""
    while _pending_bumps:
        try:
            key = next(iter(_pending_bumps))
        except StopIteration:  # emptied by another thread
            break
        client.incr(key)
        _pending_bumps.discard(key)
    return True


def read_generations(tenant_id: int, also: str | None = None) -> tuple[str, str] | None:
    """The tenant's current (tenant, global) generations, or None when Redis cannot be asked or a bump is pending.
    With `also`, a key that must not exist (e.g. the auth throttle's block of the address), read in the same
    round trip: None when it does."""
    client = _redis.client()
    if client is None:
        return None
    try:
        flush_pending(client)
        values = client.mget([*generation_keys(tenant_id), *([also] if also else [])])
    except redis.RedisError as exc:
        _failed(exc)
        return None
    if also and values[2] is not None:
        return None
    return _text(values[0]), _text(values[1])


def _failed(exc: Exception) -> None:
    _redis.failed()
    logger.warning("identity cache: Redis unavailable (%s); authenticating from the database", exc)


def has_pending() -> bool:
    return bool(_pending_bumps)


def bump(tenant_id: int | None) -> None:
    """Move a tenant (None: every tenant) to a new auth generation. Tried even while Redis is backed off, and
    twice, because a lost bump is the only way to a remembered identity outliving a change."""
    tenant_key, global_key = generation_keys(tenant_id or 0)
    key = global_key if tenant_id is None else tenant_key
    client = _redis.raw()
    for attempt in (1, 2):
        try:
            client.incr(key)
            return
        except redis.RedisError as exc:
            if attempt == 2:
                _pending_bumps.add(key)
                _failed(exc)


def bump_on_commit(tenant_id: int | None) -> None:
    """Bump after the current transaction commits (at once outside one). Not before: a request in between could
    remember the old rows under the new generation."""
    transaction.on_commit(lambda: bump(tenant_id))


# --- the process memory ------------------------------------------------------------------------------------------


def lookup(token_hash: str) -> Identity | None:
    """A remembered identity young enough to be used (its generations still to be checked by the caller)."""
    identity = _identities.get(token_hash)
    if identity is None or time.monotonic() - identity.loaded_at > TTL_SECONDS:
        return None
    return identity


def tenant_hint(token_hash: str) -> int | None:
    return _tenant_hint.get(token_hash)


def remember_tenant(token_hash: str, tenant_id: int) -> None:
    with _lock:
        if len(_tenant_hint) >= _MAX_ENTRIES:
            _tenant_hint.clear()
        _tenant_hint[token_hash] = tenant_id


def remember(principal: Any, generations: tuple[str, str]) -> Identity | None:
    """Remember the identity of a principal the full path built from a token (None for anything else)."""
    from tenants.access import Principal

    token = getattr(principal, "token", None)
    if not isinstance(principal, Principal) or token is None or principal.platform_admin:
        return None
    tenant = principal.tenant
    if tenant.is_suspended or not principal.user.is_active or token.revoked_at is not None:
        return None
    identity = Identity(
        token_hash=token.token_hash,
        tenant_id=tenant.pk,
        tenant_slug=tenant.slug,
        username=getattr(principal.user, "username", "") or "anonymous",
        reads_all=principal.is_tenant_admin or bool(tenant.members_read_all),
        can_read=principal.has_scope("read"),
        team_ids=frozenset(principal.team_ids),
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        generations=generations,
        loaded_at=time.monotonic(),
    )
    with _lock:
        if len(_identities) >= _MAX_ENTRIES:
            _identities.clear()
        _identities[identity.token_hash] = identity
    return identity


def forget_all() -> None:
    """Tests: start from an empty memory."""
    with _lock:
        _identities.clear()
        _tenant_hint.clear()
        _pending_bumps.clear()


# --- invalidation from model signals (every save and delete, the admin's included) ------------------------------


def _tenant_of(sender: Any, instance: Any) -> int | None:
    """The tenant a changed row affects, or None for every tenant."""
    from tenants.models import Tenant

    if sender is Tenant:
        return instance.pk
    return getattr(instance, "tenant_id", None)


# Fields whose change tells nothing about a caller: a sign-in's timestamp, the tenant's experiment counter.
_NOT_ABOUT_CALLERS = {"accounts.user": {"last_login"}, "tenants.tenant": {"last_experiment_number"}}


def _on_save(sender: Any, instance: Any, update_fields: Any = None, **kwargs: Any) -> None:
    ignored = _NOT_ABOUT_CALLERS.get(sender._meta.label_lower)
    if ignored and update_fields is not None and set(update_fields) <= ignored:
        return
    bump_on_commit(_tenant_of(sender, instance))


def _on_delete(sender: Any, instance: Any, **kwargs: Any) -> None:
    bump_on_commit(_tenant_of(sender, instance))


def connect_signals() -> None:
    """Called from `AccountsConfig.ready`."""
    from accounts.models import ApiToken, ServiceAccount, User
    from tenants.models import Membership, Team, TeamMembership, Tenant

    per_tenant = (ApiToken, ServiceAccount, Membership, Team, Tenant)
    everywhere = (User, TeamMembership)  # a user's or a team membership's tenant is not on the row
    for model in (*per_tenant, *everywhere):
        label = f"modelgate.identity.{model._meta.label_lower}"
        post_save.connect(_on_save, sender=model, dispatch_uid=f"{label}.save")
        post_delete.connect(_on_delete, sender=model, dispatch_uid=f"{label}.delete")
