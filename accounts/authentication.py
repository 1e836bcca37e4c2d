"""DRF authentication: `Authorization: Bearer mgt_…` (MLFLOW_TRACKING_TOKEN) and HTTP Basic with the token as the
password (MLFLOW_TRACKING_USERNAME/PASSWORD); sessions for the web."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta

from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from rest_framework import authentication, exceptions

from tenants.models import Membership, TeamMembership

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
        token = token_with_principal(tokens.digest(secret)).first()
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


class SessionAuthentication(authentication.SessionAuthentication):
    """Session auth for the web views (CSRF enforced for unsafe methods, as DRF does)."""
