"""Writes for users, service accounts and API tokens."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import AlreadyExists, InvalidParameter, NotFound
from registry import events
from tenants import services as tenant_services
from tenants.models import Membership, Role, Team, Tenant

from . import tokens
from .models import SCOPES, ApiToken, ServiceAccount

User = get_user_model()
USERNAME_RE = re.compile(r"^[\w.@+-]{1,150}$")
SA_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,98}[a-z0-9])?$")

DEFAULT_SCOPES = {
    Role.ADMIN: ["read", "write", "promote", "admin"],
    # Members can hold manage on what their team owns; narrow a token with explicit scopes (e.g. CI: read,write).
    Role.MEMBER: ["read", "write", "promote", "admin"],
    Role.VIEWER: ["read"],
}


def parse_scopes(value: str | list[str] | None, *, role: str) -> list[str]:
    """Validate requested scopes; none requested means the role's defaults. Viewers get read only."""
    if value is None or value == "" or value == []:
        return list(DEFAULT_SCOPES[Role(role)])
    items = value.split(",") if isinstance(value, str) else list(value)
    scopes = {s.strip().lower() for s in items if s.strip()}
    unknown = sorted(s for s in scopes if s not in SCOPES)
    if unknown:
        raise InvalidParameter(f"Unknown scope(s) {', '.join(unknown)}: use {', '.join(SCOPES)}.")
    if role == Role.VIEWER and set(scopes) - {"read"}:
        raise InvalidParameter("A viewer's token can only have the 'read' scope.")
    return [s for s in SCOPES if s in scopes]


def _validate_role(role: str) -> None:
    if role not in Role.values:
        raise InvalidParameter(f"Invalid role {role!r}: use admin, member or viewer.")


def user_get(username: str):
    user = User.objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"User '{username}' not found.")
    return user


@transaction.atomic(durable=True)
def user_create(
    *,
    username: str,
    tenant: Tenant,
    role: str,
    teams: Sequence[Team] = (),
    password: str | None = None,
    email: str = "",
    actor=None,
):
    """Create a user in a tenant. An existing user is added to the tenant (a person can belong to several)."""
    _validate_role(role)
    if not USERNAME_RE.match(username or ""):
        raise InvalidParameter(
            f"Invalid username {username!r}: letters, digits and @ . + - _ only, 1-150 characters."
        )
    if password is not None and len(password) < 8:
        raise InvalidParameter("The password must have at least 8 characters.")
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, email=email)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError as exc:
            raise AlreadyExists(f"User '{username}' already exists.") from exc
        events.emit(tenant=tenant, actor=actor, action="user.created", obj=user, after={"username": username})
    else:
        if user.is_service_account:
            raise AlreadyExists(f"'{username}' is a service account.")
        if Membership.objects.filter(tenant=tenant, user=user).exists():
            raise AlreadyExists(f"User '{username}' already exists in tenant '{tenant.slug}'.")
        if password:
            user.set_password(password)
            user.save(update_fields=["password"])
            # Recorded in the tenant the user joins: the change happened through its command (never the secret).
            events.emit(
                tenant=tenant,
                actor=actor,
                action="user.password_set",
                obj=user,
                after={"username": username},
            )
    tenant_services._membership_set(tenant=tenant, user=user, role=role, actor=actor)
    for team in teams:
        tenant_services._team_member_add(team=team, user=user, actor=actor)
    return user


def _token_issue(
    *, user, tenant: Tenant, scopes: list[str], name: str = "", expires_at: datetime | None = None, actor=None
) -> tuple[ApiToken, str]:
    secret = tokens.generate()
    if expires_at is None:
        expires_at = timezone.now() + timedelta(days=settings.MODELGATE["TOKEN_DEFAULT_DAYS"])
    token = ApiToken.objects.create(
        user=user,
        tenant=tenant,
        name=name,
        prefix=tokens.visible_prefix(secret),
        token_hash=tokens.digest(secret),
        scopes=scopes,
        expires_at=expires_at,
    )
    events.emit(
        tenant=tenant,
        actor=actor,
        action="token.issued",
        obj=token,
        after={
            "user": user.username,
            "prefix": token.prefix,
            "scopes": scopes,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return token, secret


@transaction.atomic(durable=True)
def token_issue(
    *,
    user,
    tenant: Tenant,
    scopes: str | list[str] | None = None,
    name: str = "",
    expires_at: datetime | None = None,
    actor=None,
) -> tuple[ApiToken, str]:
    """Issue a token for a member of the tenant. Returns the row and the secret, which is never stored."""
    membership = Membership.objects.filter(tenant=tenant, user=user).first()
    if membership is None:
        raise InvalidParameter(f"User '{user.username}' is not a member of tenant '{tenant.slug}'.")
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidParameter("The expiry must be in the future.")
    return _token_issue(
        user=user,
        tenant=tenant,
        scopes=parse_scopes(scopes, role=membership.role),
        name=name,
        expires_at=expires_at,
        actor=actor,
    )


@transaction.atomic(durable=True)
def token_revoke(*, token: ApiToken, actor=None) -> ApiToken:
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        events.emit(
            tenant=token.tenant,
            actor=actor,
            action="token.revoked",
            obj=token,
            after={"prefix": token.prefix, "user": token.user.username},
        )
    return token


@transaction.atomic(durable=True)
def service_account_create(
    *,
    tenant: Tenant,
    name: str,
    role: str,
    team: Team | None = None,
    scopes: str | list[str] | None = None,
    actor=None,
) -> tuple[ServiceAccount, str]:
    """Create a service account (a User with a ServiceAccount row) and its first token."""
    _validate_role(role)
    if not SA_NAME_RE.match(name or ""):
        raise InvalidParameter(
            f"Invalid service account name {name!r}: lowercase letters, digits, '-' and '_', 1-100 characters."
        )
    if team is not None and team.tenant_id != tenant.pk:
        raise InvalidParameter(f"Team '{team.slug}' is not in tenant '{tenant.slug}'.")
    if ServiceAccount.objects.filter(tenant=tenant, name=name).exists():
        raise AlreadyExists(f"Service account '{name}' already exists in tenant '{tenant.slug}'.")
    token_scopes = parse_scopes(scopes, role=role)
    username = f"sa.{tenant.slug}.{name}"
    try:
        with transaction.atomic():
            user = User(username=username)
            user.set_unusable_password()
            user.save()
            sa = ServiceAccount.objects.create(user=user, tenant=tenant, team=team, name=name, role=role)
    except IntegrityError as exc:
        raise AlreadyExists(f"Service account '{name}' already exists in tenant '{tenant.slug}'.") from exc
    events.emit(
        tenant=tenant,
        actor=actor,
        action="service_account.created",
        obj=sa,
        after={"name": name, "role": role, "team": team.slug if team else None},
    )
    tenant_services._membership_set(tenant=tenant, user=user, role=role, actor=actor)
    if team is not None:
        tenant_services._team_member_add(team=team, user=user, actor=actor)
    _token, secret = _token_issue(user=user, tenant=tenant, scopes=token_scopes, name="initial", actor=actor)
    return sa, secret


# Platform-level user changes (the Django admin's user page), in their own module.
from .user_changes import USER_UPDATABLE, user_set_password, user_update  # noqa: E402, F401
