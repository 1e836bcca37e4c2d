"""Writes for tenants, teams and memberships. Each public function is one durable transaction with its audit
event."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts import identitycache
from config.errors import AlreadyExists, Conflict, InvalidParameter, NotFound
from registry import events

from .models import Membership, Role, Team, TeamMembership, Tenant, slug_validator


def _validate_slug(slug: str, what: str) -> None:
    try:
        slug_validator(slug)
    except ValidationError as exc:
        raise InvalidParameter(f"Invalid {what} slug {slug!r}: {exc.messages[0]}") from exc


def tenant_get(slug: str) -> Tenant:
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise NotFound(f"Tenant '{slug}' not found.")
    return tenant


@transaction.atomic(durable=True)
def tenant_create(
    *,
    slug: str,
    name: str = "",
    actor=None,
    quota_storage_bytes: int | None = None,
    quota_models: int | None = None,
    quota_versions_per_model: int | None = None,
) -> Tenant:
    _validate_slug(slug, "tenant")
    for field, value in (
        ("quota_storage_bytes", quota_storage_bytes),
        ("quota_models", quota_models),
        ("quota_versions_per_model", quota_versions_per_model),
    ):
        _validate_tenant_change(field, value)
    if Tenant.objects.filter(slug=slug).exists():
        raise AlreadyExists(f"Tenant '{slug}' already exists.")
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(
                slug=slug,
                name=name or slug,
                quota_storage_bytes=quota_storage_bytes,
                quota_models=quota_models,
                quota_versions_per_model=quota_versions_per_model,
            )
    except IntegrityError as exc:  # a concurrent create won the race for the slug
        raise AlreadyExists(f"Tenant '{slug}' already exists.") from exc
    from registry.tracking.services import experiment_create_default

    experiment_create_default(tenant=tenant)
    events.emit(
        tenant=tenant,
        actor=actor,
        action="tenant.created",
        obj=tenant,
        after={
            "slug": slug,
            "name": tenant.name,
            "quota_storage_bytes": quota_storage_bytes,
            "quota_models": quota_models,
            "quota_versions_per_model": quota_versions_per_model,
        },
    )
    return tenant


@transaction.atomic(durable=True)
def tenant_set_status(*, tenant: Tenant, status: str, actor=None) -> Tenant:
    if status not in Tenant.Status.values:
        raise InvalidParameter(f"Invalid tenant status {status!r}: use active or suspended.")
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    before = tenant.status
    if before != status:
        tenant.status = status
        tenant.save(update_fields=["status"])
        events.emit(
            tenant=tenant,
            actor=actor,
            action="tenant.status_changed",
            obj=tenant,
            before={"status": before},
            after={"status": status},
        )
    return tenant


TENANT_UPDATABLE = (
    "name",
    "quota_storage_bytes",
    "quota_models",
    "quota_versions_per_model",
    "members_read_all",
    "protected_aliases",
)


def _validate_tenant_change(field: str, value: Any) -> Any:
    if field == "name":
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise InvalidParameter("The tenant name must be 1-200 characters.")
        return value.strip()
    if field in ("quota_storage_bytes", "quota_models", "quota_versions_per_model"):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidParameter(f"{field} must be a non-negative integer, or empty for unlimited.")
        return value
    if field == "members_read_all":
        if not isinstance(value, bool):
            raise InvalidParameter("members_read_all must be true or false.")
        return value
    if field == "protected_aliases":
        if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
            raise InvalidParameter("protected_aliases must be a list of alias names.")
        return sorted(set(value))
    raise InvalidParameter(f"Tenant field {field!r} cannot be changed: use {', '.join(TENANT_UPDATABLE)}.")


@transaction.atomic(durable=True)
def tenant_update(*, tenant: Tenant, actor=None, **changes: Any) -> Tenant:
    """Change a tenant's name, quotas or defaults (`TENANT_UPDATABLE`). Status has its own service; the slug is
    part of every URL and never changes."""
    cleaned = {field: _validate_tenant_change(field, value) for field, value in changes.items()}
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    before = {f: getattr(tenant, f) for f, v in cleaned.items() if getattr(tenant, f) != v}
    if not before:
        return tenant
    for field in before:
        setattr(tenant, field, cleaned[field])
    tenant.save(update_fields=list(before))
    events.emit(
        tenant=tenant,
        actor=actor,
        action="tenant.updated",
        obj=tenant,
        before=before,
        after={f: cleaned[f] for f in before},
    )
    return tenant


@transaction.atomic(durable=True)
def team_create(*, tenant: Tenant, slug: str, name: str = "", actor=None) -> Team:
    _validate_slug(slug, "team")
    if Team.objects.filter(tenant=tenant, slug=slug).exists():
        raise AlreadyExists(f"Team '{slug}' already exists in tenant '{tenant.slug}'.")
    try:
        with transaction.atomic():
            group = Group.objects.create(name=f"team:{tenant.pk}:{slug}")
            team = Team.objects.create(tenant=tenant, slug=slug, name=name or slug, group=group)
    except IntegrityError as exc:
        raise AlreadyExists(f"Team '{slug}' already exists in tenant '{tenant.slug}'.") from exc
    events.emit(tenant=tenant, actor=actor, action="team.created", obj=team, after={"slug": slug})
    return team


@transaction.atomic(durable=True)
def team_update(*, team: Team, name: str, actor=None) -> Team:
    """Rename a team (its display name; the slug never changes)."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidParameter("The team name must be 1-200 characters.")
    team = Team.objects.select_for_update().select_related("tenant").get(pk=team.pk)
    if team.name != name:
        before = team.name
        team.name = name
        team.save(update_fields=["name"])
        events.emit(
            tenant=team.tenant,
            actor=actor,
            action="team.updated",
            obj=team,
            before={"name": before},
            after={"name": name},
        )
    return team


@transaction.atomic(durable=True)
def team_delete(*, team: Team, actor=None) -> None:
    """Delete a team that owns nothing: its memberships and its permission group (with the grants made to it) go
    with it. A team still owning models or experiments is refused, so nothing is left without an owner by a click."""
    team = Team.objects.select_for_update().select_related("tenant", "group").get(pk=team.pk)
    owned = [
        what
        for what, count in (
            ("models", team.registered_models.count()),
            ("experiments", team.experiments.count()),
        )
        if count
    ]
    if owned:
        raise Conflict(
            f"Team '{team.slug}' still owns {' and '.join(owned)}: give them another owner team before deleting it."
        )
    members = sorted(TeamMembership.objects.filter(team=team).values_list("user__username", flat=True))
    # Recorded before the rows go so the event keeps the team's id; the row is locked, so nothing joins meanwhile.
    events.emit(
        tenant=team.tenant,
        actor=actor,
        action="team.deleted",
        obj=team,
        before={"slug": team.slug, "name": team.name, "members": members},
    )
    group = team.group
    team.delete()  # cascades to its memberships; service accounts of the team keep their tenant role only
    group.delete()  # the group is PROTECTed while the team exists; its object grants cascade with it


def team_get(*, tenant: Tenant, slug: str) -> Team:
    team = Team.objects.filter(tenant=tenant, slug=slug).select_related("group").first()
    if team is None:
        raise NotFound(f"Team '{slug}' not found in tenant '{tenant.slug}'.")
    return team


def _keep_an_admin(tenant: Tenant, user, doing: str) -> None:
    """Refuse to demote or remove the tenant's last active (human) admin: nobody could manage the tenant in its
    pages any more, and only a platform admin could repair it. The tenant's admin rows are locked first, so two
    admins demoting each other at once cannot both pass the check."""
    admins = list(
        Membership.objects.select_for_update(of=("self",))
        .filter(tenant=tenant, role=Role.ADMIN, user__is_active=True, user__service_account__isnull=True)
        .values_list("user_id", flat=True)
    )
    if admins == [user.pk]:
        raise Conflict(
            f"User '{user.username}' is the last admin of tenant '{tenant.slug}': make another member an admin "
            f"before you {doing}."
        )


def _check_role(role: str) -> None:
    if role not in Role.values:
        raise InvalidParameter(f"Invalid role {role!r}: use admin, member or viewer.")


def _membership_created(tenant: Tenant, membership: Membership, actor) -> None:
    events.emit(
        tenant=tenant,
        actor=actor,
        action="membership.created",
        obj=membership,
        after={"user": membership.user.username, "role": membership.role},
    )


def _membership_set(*, tenant: Tenant, user, role: str, actor=None) -> Membership:
    _check_role(role)
    if role != Role.ADMIN:
        _keep_an_admin(tenant, user, f"make them {role}")
    membership, created = Membership.objects.get_or_create(tenant=tenant, user=user, defaults={"role": role})
    if not created and membership.role != role:
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        # A service account's role is shown on its row too; the membership stays the source of truth.
        from accounts.models import ServiceAccount

        ServiceAccount.objects.filter(user=user, tenant=tenant).update(role=role)
        identitycache.bump_on_commit(tenant.pk)  # `update()` sends no signal (accounts/identitycache.py)
        events.emit(
            tenant=tenant,
            actor=actor,
            action="membership.role_changed",
            obj=membership,
            before={"user": user.username, "role": before},
            after={"user": user.username, "role": role},
        )
    elif created:
        _membership_created(tenant, membership, actor)
    return membership


@transaction.atomic(durable=True)
def membership_set(*, tenant: Tenant, user, role: str, actor=None) -> Membership:
    return _membership_set(tenant=tenant, user=user, role=role, actor=actor)


@transaction.atomic(durable=True)
def membership_add(*, tenant: Tenant, user, role: str, actor=None) -> Membership:
    """Add an existing user to a tenant with a role. Unlike `membership_set`, an existing member is refused
    rather than silently given another role (changing a role is its own, separate action)."""
    _check_role(role)
    try:
        with (
            transaction.atomic()
        ):  # the unique (tenant, user) constraint answers "already a member", races too
            membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    except IntegrityError as exc:
        raise AlreadyExists(f"User '{user.username}' is already a member of tenant '{tenant.slug}'.") from exc
    _membership_created(tenant, membership, actor)
    return membership


def _team_member_add(
    *, team: Team, user, role: str = TeamMembership.TeamRole.MEMBER, actor=None
) -> TeamMembership:
    if not Membership.objects.filter(tenant_id=team.tenant_id, user=user).exists():
        raise InvalidParameter(f"User '{user.username}' is not a member of tenant '{team.tenant.slug}'.")
    if role not in TeamMembership.TeamRole.values:
        raise InvalidParameter(f"Invalid team role {role!r}: use maintainer or member.")
    tm, created = TeamMembership.objects.get_or_create(team=team, user=user, defaults={"role": role})
    if created:
        events.emit(
            tenant=team.tenant,
            actor=actor,
            action="team.member_added",
            obj=team,
            after={"user": user.username, "team": team.slug, "role": role},
        )
    elif tm.role != role:
        before = tm.role
        tm.role = role
        tm.save(update_fields=["role"])
        events.emit(
            tenant=team.tenant,
            actor=actor,
            action="team.member_role_changed",
            obj=team,
            before={"user": user.username, "role": before},
            after={"user": user.username, "role": role},
        )
    return tm


@transaction.atomic(durable=True)
def team_member_add(
    *, team: Team, user, role: str = TeamMembership.TeamRole.MEMBER, actor=None
) -> TeamMembership:
    return _team_member_add(team=team, user=user, role=role, actor=actor)


@transaction.atomic(durable=True)
def team_member_remove(*, team: Team, user, actor=None) -> None:
    deleted, _ = TeamMembership.objects.filter(team=team, user=user).delete()
    if deleted:
        events.emit(
            tenant=team.tenant,
            actor=actor,
            action="team.member_removed",
            obj=team,
            before={"user": user.username, "team": team.slug},
        )


@transaction.atomic(durable=True)
def membership_remove(*, tenant: Tenant, user, actor=None) -> None:
    """Take a user out of a tenant: its membership, its teams there, and its tokens for the tenant (revoked, so
    they answer "revoked" rather than vanish)."""
    from django.utils import timezone

    from accounts.models import ApiToken

    membership = Membership.objects.select_for_update().filter(tenant=tenant, user=user).first()
    if membership is None:
        raise NotFound(f"User '{user.username}' is not a member of tenant '{tenant.slug}'.")
    _keep_an_admin(tenant, user, "remove them")
    teams = list(Team.objects.filter(tenant=tenant, memberships__user=user).select_related("group"))
    TeamMembership.objects.filter(team__in=teams, user=user).delete()
    revoked = ApiToken.objects.filter(tenant=tenant, user=user, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    identitycache.bump_on_commit(tenant.pk)  # `update()` sends no signal: the revoked tokens stop at once
    # Recorded before the row goes so the event keeps its id; the row is already locked, so the order is safe.
    events.emit(
        tenant=tenant,
        actor=actor,
        action="membership.removed",
        obj=membership,
        before={"user": user.username, "role": membership.role, "teams": sorted(t.slug for t in teams)},
        after={"tokens_revoked": revoked},
    )
    membership.delete()
