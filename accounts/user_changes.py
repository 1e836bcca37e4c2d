"""Platform-level changes to a user (the Django admin's user page): profile, active flag, staff and superuser flags,
groups and permissions, and the password. Re-exported from `accounts.services`.

Where these are audited: the audit log is per tenant (a hash chain each), and a user is not in a tenant but in
several. Each change is recorded in every tenant the user is a member of, since that is where it changes who can do
what (a deactivated member, a new password on an admin's account). Granting or removing superuser is recorded in
EVERY tenant: a superuser is a platform admin, who can read and act in each of them, so each tenant's log must say
who gained that power. A change to a user in no tenant (and not a superuser change) has no tenant log to go to; it
is written to the `modelgate.audit` logger, next to Django's own admin history (LogEntry).

What stops at once: authentication reads the user on every request (no cache), so a deactivated user's tokens
answer 401 and their sessions end on their next request (Django's ModelBackend refuses an inactive user); a new
password invalidates their other sessions (Django's session auth hash)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction

from config.errors import Conflict, InvalidParameter, PermissionDenied
from registry import events
from tenants.models import Tenant

User = get_user_model()
logger = logging.getLogger("modelgate.audit")

USER_UPDATABLE = ("email", "first_name", "last_name", "is_active", "is_staff", "is_superuser")
PRIVILEGES = ("is_staff", "is_superuser", "groups", "user_permissions")


def _require_platform_admin(actor: Any) -> None:
    # None is a management command run on the server, which is trusted like a superuser.
    if actor is not None and not (actor.is_active and actor.is_superuser):
        raise PermissionDenied("Only platform admins (superusers) change users.")


def _validate(field: str, value: Any) -> Any:
    if field in ("is_active", "is_staff", "is_superuser"):
        if not isinstance(value, bool):
            raise InvalidParameter(f"{field} must be true or false.")
        return value
    if not isinstance(value, str) or len(value) > 254:
        raise InvalidParameter(f"{field} must be text of at most 254 characters.")
    return value.strip()


def _record(user: Any, actor: Any, action: str, before: dict, after: dict, everywhere: bool) -> None:
    tenants = Tenant.objects.all() if everywhere else Tenant.objects.filter(memberships__user=user)
    # One order for every writer, so two changes recording in the same tenants never wait on each other's heads.
    recorded = 0
    for tenant in tenants.order_by("pk"):
        events.emit(tenant=tenant, actor=actor, action=action, obj=user, before=before, after=after)
        recorded += 1
    if not recorded:
        logger.info(
            "%s %s by %s: before=%s after=%s",
            action,
            user.username,
            getattr(actor, "username", "system"),
            before,
            after,
        )


def _names(rows: Iterable[Any]) -> list[str]:
    return sorted(
        f"{r.content_type.app_label}.{r.codename}" if isinstance(r, Permission) else r.name for r in rows
    )


@transaction.atomic(durable=True)
def user_update(
    *,
    user: Any,
    actor: Any = None,
    groups: Iterable[Group] | None = None,
    user_permissions: Iterable[Permission] | None = None,
    **changes: Any,
) -> Any:
    """Change a user's profile and flags (`USER_UPDATABLE`), groups and permissions. Platform admins only; the last
    active superuser cannot be demoted or deactivated (nobody could undo it from the admin)."""
    _require_platform_admin(actor)
    unknown = sorted(set(changes) - set(USER_UPDATABLE))
    if unknown:
        raise InvalidParameter(f"User field(s) {', '.join(unknown)} cannot be changed here.")
    cleaned = {f: _validate(f, v) for f, v in changes.items()}
    user = User.objects.select_for_update().get(pk=user.pk)
    before = {f: getattr(user, f) for f, v in cleaned.items() if getattr(user, f) != v}
    after = {f: cleaned[f] for f in before}
    if user.is_service_account and (after.get("is_staff") or after.get("is_superuser")):
        raise InvalidParameter("A service account cannot be staff or a superuser.")
    if (
        user.is_superuser
        and user.is_active
        and (after.get("is_superuser") is False or after.get("is_active") is False)
    ):
        others = User.objects.filter(is_superuser=True, is_active=True).exclude(pk=user.pk)
        if not others.select_for_update().exists():
            raise Conflict("This is the last active superuser: make another one first.")
    for name, rows in (("groups", groups), ("user_permissions", user_permissions)):
        if rows is None:
            continue
        wanted = list(rows)
        current = list(getattr(user, name).all())
        if set(current) != set(wanted):
            before[name], after[name] = _names(current), _names(wanted)
            getattr(user, name).set(wanted)
    if not after:
        return user
    fields = [f for f in after if f in USER_UPDATABLE]
    for field in fields:
        setattr(user, field, after[field])
    if fields:
        user.save(update_fields=fields)
    _record(user, actor, "user.updated", before, after, everywhere="is_superuser" in after)
    return user


@transaction.atomic(durable=True)
def user_set_password(*, user: Any, password: str | None, actor: Any = None) -> Any:
    """Set a user's password, or with None disable password sign-in. Audited without the secret, of course."""
    _require_platform_admin(actor)
    if password is not None and len(password) < 8:
        raise InvalidParameter("The password must have at least 8 characters.")
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_service_account:
        raise InvalidParameter("A service account signs in with tokens only.")
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save(update_fields=["password"])
    action = "user.password_set" if password is not None else "user.password_disabled"
    _record(user, actor, action, {}, {"username": user.username}, everywhere=False)
    return user
