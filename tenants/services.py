"""Writes for tenants, teams and memberships. Each public function is one durable transaction with its audit
event."""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from config.errors import AlreadyExists, InvalidParameter, NotFound
from registry import audit

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
def tenant_create(*, slug: str, name: str = "", actor=None, quota_storage_bytes: int | None = None,
                  quota_models: int | None = None) -> Tenant:
    _validate_slug(slug, "tenant")
    if Tenant.objects.filter(slug=slug).exists():
        raise AlreadyExists(f"Tenant '{slug}' already exists.")
    try:
        with transaction.atomic():
            tenant = Tenant.objects.create(
                slug=slug, name=name or slug, quota_storage_bytes=quota_storage_bytes, quota_models=quota_models
            )
    except IntegrityError as exc:  # a concurrent create won the race for the slug
        raise AlreadyExists(f"Tenant '{slug}' already exists.") from exc
    from registry.tracking.services import experiment_create_default

    experiment_create_default(tenant=tenant)
    audit.record(tenant=tenant, actor=actor, action="tenant.created", obj=tenant, after={"slug": slug, "name": tenant.name})
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
        audit.record(tenant=tenant, actor=actor, action="tenant.status_changed", obj=tenant,
                     before={"status": before}, after={"status": status})
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
    audit.record(tenant=tenant, actor=actor, action="team.created", obj=team, after={"slug": slug})
    return team


def team_get(*, tenant: Tenant, slug: str) -> Team:
    team = Team.objects.filter(tenant=tenant, slug=slug).select_related("group").first()
    if team is None:
        raise NotFound(f"Team '{slug}' not found in tenant '{tenant.slug}'.")
    return team


def _membership_set(*, tenant: Tenant, user, role: str, actor=None) -> Membership:
    if role not in Role.values:
        raise InvalidParameter(f"Invalid role {role!r}: use admin, member or viewer.")
    membership, created = Membership.objects.get_or_create(tenant=tenant, user=user, defaults={"role": role})
    if not created and membership.role != role:
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(tenant=tenant, actor=actor, action="membership.role_changed", obj=membership,
                     before={"user": user.username, "role": before}, after={"user": user.username, "role": role})
    elif created:
        audit.record(tenant=tenant, actor=actor, action="membership.created", obj=membership,
                     after={"user": user.username, "role": role})
    return membership


@transaction.atomic(durable=True)
def membership_set(*, tenant: Tenant, user, role: str, actor=None) -> Membership:
    return _membership_set(tenant=tenant, user=user, role=role, actor=actor)


def _team_member_add(*, team: Team, user, role: str = TeamMembership.TeamRole.MEMBER, actor=None) -> TeamMembership:
    if not Membership.objects.filter(tenant_id=team.tenant_id, user=user).exists():
        raise InvalidParameter(f"User '{user.username}' is not a member of tenant '{team.tenant.slug}'.")
    tm, created = TeamMembership.objects.get_or_create(team=team, user=user, defaults={"role": role})
    # The Django group backs guardian's team grants; keep it in step with the team membership.
    user.groups.add(team.group)
    if created:
        audit.record(tenant=team.tenant, actor=actor, action="team.member_added", obj=team,
                     after={"user": user.username, "team": team.slug, "role": role})
    return tm


@transaction.atomic(durable=True)
def team_member_add(*, team: Team, user, role: str = TeamMembership.TeamRole.MEMBER, actor=None) -> TeamMembership:
    return _team_member_add(team=team, user=user, role=role, actor=actor)


@transaction.atomic(durable=True)
def team_member_remove(*, team: Team, user, actor=None) -> None:
    deleted, _ = TeamMembership.objects.filter(team=team, user=user).delete()
    user.groups.remove(team.group)
    if deleted:
        audit.record(tenant=team.tenant, actor=actor, action="team.member_removed", obj=team,
                     before={"user": user.username, "team": team.slug})
