"""DRF authentication: `Authorization: Bearer mgt_…` (MLFLOW_TRACKING_TOKEN) and HTTP Basic with the token as the
password (MLFLOW_TRACKING_USERNAME/PASSWORD); sessions for the web."""

from __future__ import annotations

import base64
import binascii
import functools
from datetime import timedelta
from typing import Any, cast

from django.db import connection
from django.db.models import Model, OuterRef, QuerySet, Subquery
from django.utils import timezone
from rest_framework import authentication, exceptions

from config import sqlrows
from tenants.models import Membership, Team, TeamMembership, Tenant

from . import throttling, tokens
from .models import ApiToken

# last_used_at is written at most this often per token, so a busy client does not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").strip()
        if not header:
            return None
        # Throttling (accounts/throttling.py): a blocked address is refused before its credentials are looked at
        # (one cache GET, the only cost on the success path); counters are touched only after a failure.
        address = throttling.client_address(request)
        wait = throttling.blocked_for(address)
        if wait is not None:
            raise exceptions.Throttled(wait=wait, detail="Too many failed authentication attempts.")
        try:
            return self._authenticate_header(header)
        except exceptions.AuthenticationFailed as exc:
            secret = getattr(exc, "secret", "")
            account = tokens.visible_prefix(secret) if tokens.looks_like_token(secret) else None
            wait = throttling.record_failure(
                request, address=address, account=account, token=getattr(exc, "token", None)
            )
            if wait is not None:
                raise exceptions.Throttled(
                    wait=wait, detail="Too many failed authentication attempts."
                ) from exc
            raise

    def _authenticate_header(self, header: str):
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme == "bearer":
            secret = value
        elif scheme == "basic":
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise exceptions.AuthenticationFailed("Malformed Basic credentials.") from exc
            _username, sep, secret = decoded.partition(":")
            if not sep:
                raise exceptions.AuthenticationFailed("Malformed Basic credentials.")
        else:
            raise exceptions.AuthenticationFailed(f"Unsupported authorization scheme {scheme!r}: use Bearer.")
        return self.authenticate_token(secret)

    def authenticate_token(self, secret: str):
        try:
            return self._authenticate_token(secret)
        except exceptions.AuthenticationFailed as exc:
            # For the throttle: which account was tried (the visible prefix), and the row when one matched.
            exc.secret = secret  # type: ignore[attr-defined]
            raise

    def _authenticate_token(self, secret: str):
        if not tokens.looks_like_token(secret):
            raise exceptions.AuthenticationFailed("Invalid token: Modelgate tokens start with 'mgt_'.")
        token = load_token(tokens.digest(secret))
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        problem = None
        if token.is_revoked:
            problem = f"Token {token.prefix}… has been revoked."
        elif token.is_expired:
            problem = f"Token {token.prefix}… expired at {token.expires_at:%Y-%m-%dT%H:%M:%SZ}."
        elif not token.user.is_active:
            problem = "The token's user is inactive."
        if problem is not None:
            exc = exceptions.AuthenticationFailed(problem)
            exc.token = token  # type: ignore[attr-defined]  # names the tenant of a lockout's audit event
            raise exc
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            # A conditional UPDATE, not save(): concurrent requests must not overwrite each other's fields.
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            token.last_used_at = now  # what the serving fast path remembers (accounts/identitycache.py)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="modelgate"'


def token_with_principal(token_hash: str) -> QuerySet[ApiToken]:
    """The token with everything `tenants.access.principal_for` needs, in ONE statement: user, tenant, service
    account, and (annotated) the user's role in the token's tenant and, on PostgreSQL, the user's team ids there.

    Why one statement: authentication and tenant resolution were four queries and nearly half of every read on the
    serving path. Nothing is cached here, so a revoked token, a changed role or team, a suspended tenant or a
    deactivated user take effect on the very next request (the serving fast path remembers identities, under auth
    generations every such change moves: accounts/identitycache.py)."""
    role = Membership.objects.filter(tenant=OuterRef("tenant_id"), user=OuterRef("user_id")).values("role")[
        :1
    ]
    qs = ApiToken.objects.select_related("user", "tenant", "user__service_account").filter(
        token_hash=token_hash
    )
    qs = qs.annotate(principal_role=Subquery(role))
    if connection.vendor == "postgresql":
        from django.contrib.postgres.expressions import ArraySubquery

        teams = TeamMembership.objects.filter(
            user=OuterRef("user_id"), team__tenant=OuterRef("tenant_id")
        ).values("team_id")
        qs = qs.annotate(principal_team_ids=ArraySubquery(teams))
    return qs


_TOKEN_PARTS = ("t", "u", "te", "sa")  # aliases of ApiToken, User, Tenant, ServiceAccount in the statement


@functools.cache
def _token_sql() -> tuple[str, tuple[tuple[type[Model], list[str]], ...]]:
    """`token_with_principal` as one fixed PostgreSQL statement, built once per process from the models' own
    columns (`config.sqlrows`). Authentication runs on every request, and compiling that queryset (three joins, two
    annotations) cost the ORM about 3 ms of CPU per request, more than a cached search answer takes; the statement
    itself is the same the ORM would send."""
    from .models import ServiceAccount, User

    layout = tuple((model, sqlrows.fields_of(model)) for model in (ApiToken, User, Tenant, ServiceAccount))
    selects = ", ".join(
        sqlrows.select_list(model, names, alias)
        for (model, names), alias in zip(layout, _TOKEN_PARTS, strict=True)
    )
    qn = sqlrows.qn
    membership, team_membership, team = (qn(m._meta.db_table) for m in (Membership, TeamMembership, Team))
    sql = f"""
        SELECT {selects},
            (SELECT m.role FROM {membership} m WHERE m.tenant_id = t.tenant_id AND m.user_id = t.user_id LIMIT 1),
            ARRAY(SELECT tm.team_id FROM {team_membership} tm JOIN {team} tt ON tt.id = tm.team_id
                  WHERE tm.user_id = t.user_id AND tt.tenant_id = t.tenant_id)
        FROM {qn(ApiToken._meta.db_table)} t
        JOIN {qn(User._meta.db_table)} u ON u.id = t.user_id
        JOIN {qn(Tenant._meta.db_table)} te ON te.id = t.tenant_id
        LEFT JOIN {qn(ServiceAccount._meta.db_table)} sa ON sa.user_id = u.id
        WHERE t.token_hash = %s"""
    return sql, layout


def load_token(token_hash: str) -> ApiToken | None:
    """The token with user, tenant, service account, role and team ids (what `token_with_principal` loads), as
    model instances wired like `select_related` wires them; None for an unknown hash."""
    if connection.vendor != "postgresql":
        return token_with_principal(token_hash).first()
    sql, layout = _token_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [token_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    token_row, user, tenant_row, account = sqlrows.instances(row, *layout)
    token, tenant = cast(ApiToken, token_row), cast(Tenant, tenant_row)
    token.user, token.tenant = (
        cast(Any, user),
        tenant,
    )  # sets the related-object caches (and the ids), no query
    # The reverse one-to-one's cache, None included: `hasattr(user, "service_account")` must not query.
    cast(Model, user)._state.fields_cache["service_account"] = account
    if account is not None:
        account._state.fields_cache["user"] = user
    extra = len(row) - 2
    token.principal_role, token.principal_team_ids = row[extra], row[extra + 1]  # type: ignore[attr-defined]
    return token


class SessionAuthentication(authentication.SessionAuthentication):
    """Session auth for the web views (CSRF enforced for unsafe methods, as DRF does)."""
