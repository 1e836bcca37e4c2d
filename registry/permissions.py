"""The object gatekeeper for registered models and experiments: tenant first (the caller's `Principal` is already
bound to one tenant), then the object, then the level, then the token's scope.

Effective level on an object, highest wins:
- tenant admins: manage on everything in their tenant;
- the owning team's members: manage, by ownership (not a grant, so replacing grants never removes it);
- grants (django-guardian rows, one codename per level) to the user or to any of the user's teams;
- tenant members and viewers: read, unless the tenant turned `members_read_all` off.
Viewers never go above read. A token's scopes cap what the level allows, per action:
read → `read`, edit → `write`, stage changes and protected aliases → `promote`, manage → `admin`.

Missing objects and objects the caller may not read answer the same 404; a readable object the caller may not
change answers 403."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Model, Q, QuerySet
from guardian.shortcuts import assign_perm

from config.errors import InvalidParameter, NotFound, PermissionDenied
from registry.models import (
    RegisteredModel,
    RegisteredModelGroupObjectPermission,
    RegisteredModelUserObjectPermission,
)
from registry.tracking.models import (
    Experiment,
    ExperimentGroupObjectPermission,
    ExperimentUserObjectPermission,
)
from tenants.access import Principal
from tenants.models import Membership, Team

from .permissions_levels import LEVEL_RANK, LEVELS, codename, level_of

SCOPE_FOR_LEVEL = {
    "read": "read",
    "edit": "write",
    "manage_staging": "promote",
    "manage_production": "promote",
    "manage": "admin",
}


@dataclass(frozen=True)
class ObjectKind:
    model: type[Model]
    codename_model: str  # "registeredmodel" | "experiment"
    user_perm: Any  # guardian's direct-FK UserObjectPermission subclass of the model
    group_perm: Any  # … and GroupObjectPermission subclass
    label: str  # for messages


@functools.cache
def _kinds() -> dict[type[Model], ObjectKind]:
    return {
        RegisteredModel: ObjectKind(
            RegisteredModel,
            "registeredmodel",
            RegisteredModelUserObjectPermission,
            RegisteredModelGroupObjectPermission,
            "registered model",
        ),
        Experiment: ObjectKind(
            Experiment,
            "experiment",
            ExperimentUserObjectPermission,
            ExperimentGroupObjectPermission,
            "experiment",
        ),
    }


def kind_of(obj_or_model) -> ObjectKind:
    cls = obj_or_model if isinstance(obj_or_model, type) else type(obj_or_model)
    return _kinds()[cls]


def _max_level(levels) -> str | None:
    best = None
    for level in levels:
        if level and (best is None or LEVEL_RANK[level] > LEVEL_RANK[best]):
            best = level
    return best


def granted_level(principal: Principal, obj) -> str | None:
    """The highest level granted on `obj` to the caller or any of the caller's teams, in one statement."""
    kind = kind_of(obj)
    grants = kind.user_perm.objects.filter(content_object=obj, user=principal.user).values_list(
        "permission__codename", flat=True
    )
    if principal.team_ids:
        grants = grants.union(
            kind.group_perm.objects.filter(
                content_object=obj, group__team__in=principal.team_ids
            ).values_list("permission__codename", flat=True)
        )
    return _max_level(level_of(c) for c in grants)


def effective_level(principal: Principal, obj, *, enough: str | None = None) -> str | None:
    """The caller's level on an object of their tenant (None: may not even read it). Scopes are not applied.

    With `enough`, a level that already reaches it without looking at grants (tenant admin, owning team, the
    members' default read) is answered at once: the result is then at least `enough`, not necessarily the
    highest level the caller has. Why: most calls are reads by members, and grants cannot change their answer."""
    if obj.tenant_id != principal.tenant.pk:
        return None
    if principal.is_tenant_admin:
        return "manage"
    level: str | None
    if obj.owner_team_id is not None and obj.owner_team_id in principal.team_ids:
        level = "manage"
    else:
        default = "read" if principal.tenant.members_read_all else None
        if default is not None and enough is not None and LEVEL_RANK[default] >= LEVEL_RANK[enough]:
            level = default
        else:
            level = _max_level([granted_level(principal, obj), default])
    if principal.is_viewer and level is not None:
        level = "read"
    return level


def allows(principal: Principal, obj, level: str) -> bool:
    have = effective_level(principal, obj, enough=level)
    return (
        have is not None
        and LEVEL_RANK[have] >= LEVEL_RANK[level]
        and principal.has_scope(SCOPE_FOR_LEVEL[level])
    )


def require(principal: Principal, obj, level: str, *, action: str = "") -> str:
    """Raise unless the caller has `level` on `obj` and a token scope for it. Returns the effective level (at
    least `level`; see `effective_level(enough=…)`)."""
    if level not in LEVEL_RANK:
        raise ValueError(level)
    have = effective_level(principal, obj, enough=level)
    kind = kind_of(obj)
    if have is None:
        raise NotFound(f"{kind.label.capitalize()} '{getattr(obj, 'name', obj)}' not found.")
    what = f" to {action}" if action else ""
    if LEVEL_RANK[have] < LEVEL_RANK[level]:
        raise PermissionDenied(
            f"Permission denied{what}: needs '{level}' on {kind.label} '{getattr(obj, 'name', obj)}', you have '{have}'."
        )
    scope = SCOPE_FOR_LEVEL[level]
    if not principal.has_scope(scope):
        raise PermissionDenied(f"Permission denied{what}: this token lacks the '{scope}' scope.")
    return have


def reads_whole_tenant(principal: Principal) -> bool:
    """Whether the caller may read every model and experiment of its tenant (`readable` narrows to the tenant
    alone): a hand-written query (`registry.search.versions`) can then skip the grant subqueries."""
    return principal.has_scope("read") and (principal.is_tenant_admin or principal.tenant.members_read_all)


def readable(principal: Principal, queryset: QuerySet) -> QuerySet:
    """Narrow a queryset of models or experiments to those the caller may read, in the caller's tenant."""
    kind = kind_of(queryset.model)
    if not principal.has_scope("read"):
        return queryset.none()
    queryset = queryset.filter(tenant=principal.tenant)
    if reads_whole_tenant(principal):
        return queryset
    granted_to_user = kind.user_perm.objects.filter(user=principal.user).values("content_object_id")
    condition = Q(owner_team__in=principal.team_ids) | Q(pk__in=granted_to_user)
    if principal.team_ids:
        granted_to_teams = kind.group_perm.objects.filter(group__team__in=principal.team_ids).values(
            "content_object_id"
        )
        condition |= Q(pk__in=granted_to_teams)
    return queryset.filter(condition)


# --- grants ------------------------------------------------------------------------------------------------------


def grants_of(obj) -> list[dict]:
    """The object's grants as the API shows them: `[{"team": slug} or {"user": username}, "level": level]`."""
    kind = kind_of(obj)
    grants = [
        {"user": username, "level": level_of(cn)}
        for username, cn in kind.user_perm.objects.filter(content_object=obj).values_list(
            "user__username", "permission__codename"
        )
    ]
    grants += [
        {"team": slug, "level": level_of(cn)}
        for slug, cn in kind.group_perm.objects.filter(content_object=obj).values_list(
            "group__team__slug", "permission__codename"
        )
    ]
    return sorted(
        grants, key=lambda g: ("team" in g, g.get("user") or g.get("team") or "", LEVEL_RANK[g["level"]])
    )


def parse_grants(tenant: Any, grants: Any) -> list[tuple[str, Any, str]]:
    """Validate a grants payload; returns (`"user"`|`"team"`, user-or-team, level) triples, one per subject."""
    if not isinstance(grants, list):
        raise InvalidParameter('\'grants\' must be a list of {"team" or "user", "level"} objects.')
    parsed: dict[tuple[str, int], tuple[str, Any, str]] = {}
    subject: Any
    for index, grant in enumerate(grants):
        if not isinstance(grant, dict):
            raise InvalidParameter(f"grants[{index}] must be an object.")
        level = grant.get("level")
        if level not in LEVEL_RANK:
            raise InvalidParameter(f"grants[{index}].level must be one of {', '.join(LEVELS)}.")
        if ("team" in grant) == ("user" in grant):
            raise InvalidParameter(f"grants[{index}] must name exactly one of 'team' or 'user'.")
        if "team" in grant:
            team = Team.objects.for_tenant(tenant).filter(slug=grant["team"]).select_related("group").first()
            if team is None:
                raise InvalidParameter(f"grants[{index}]: team '{grant['team']}' not found in this tenant.")
            key, subject = ("team", team.pk), team
        else:
            user = get_user_model().objects.filter(username=grant["user"]).first()
            if user is None or not Membership.objects.filter(tenant=tenant, user=user).exists():
                raise InvalidParameter(f"grants[{index}]: user '{grant['user']}' not found in this tenant.")
            key, subject = ("user", user.pk), user
        previous = parsed.get(key)
        if previous is None or LEVEL_RANK[level] > LEVEL_RANK[previous[2]]:
            parsed[key] = (key[0], subject, level)
    return list(parsed.values())


def replace_grants(obj: Any, parsed: list[tuple[str, Any, str]]) -> None:
    """Replace every grant on the object. Call inside the service's transaction, with the object locked.

    Written with guardian's `assign_perm` (it picks the object's direct-FK permission table); a team's grant goes
    to the team's Group, which only ever serves as the grantee of such rows."""
    kind = kind_of(obj)
    kind.user_perm.objects.filter(content_object=obj).delete()
    kind.group_perm.objects.filter(content_object=obj).delete()
    for subject_kind, subject, level in parsed:
        perm = f"{obj._meta.app_label}.{codename(level, kind.codename_model)}"
        assign_perm(perm, subject if subject_kind == "user" else subject.group, obj)


# --- experiments: the Default experiment rule ----------------------------------------------------------------------
# Experiment "0" (Default) is each tenant's shared scratch space: every member reads it, even when the tenant turned
# `members_read_all` off, and every non-viewer logs to it (`mlflow.start_run()` with no experiment set uses it
# without asking). Renaming, tagging, deleting or re-granting Default itself needs the registry's levels. This is the
# only place that rule is written; tracking selectors and services ask these functions.

DEFAULT_EXPERIMENT_NUMBER = 0


def is_default_experiment(principal: Principal, experiment) -> bool:
    return experiment.number == DEFAULT_EXPERIMENT_NUMBER and experiment.tenant_id == principal.tenant.pk


def can_read_experiment(principal: Principal, experiment) -> bool:
    """Read access to an experiment (scopes not applied, as with `effective_level`)."""
    if is_default_experiment(principal, experiment):
        return True
    return effective_level(principal, experiment, enough="read") is not None


def readable_experiments(principal: Principal, queryset: QuerySet) -> QuerySet:
    """Narrow a queryset of experiments to those the caller may read: `readable` plus the tenant's Default."""
    if not principal.has_scope("read"):
        return queryset.none()
    return readable(principal, queryset) | queryset.filter(
        tenant=principal.tenant, number=DEFAULT_EXPERIMENT_NUMBER
    )


def require_writer(principal: Principal, *, action: str) -> None:
    """The caller may write in the tenant at all (create an experiment, log to Default): not a viewer, and a token
    with the `write` scope."""
    principal.require_contributor(action)


def require_experiment(
    principal: Principal, experiment, level: str, *, action: str = "", scratch: bool = True
) -> str:
    """The experiment gatekeeper (runs, logged models and artifacts inherit from their experiment): `require`, plus
    the Default rule above. `scratch=False` (changing Default itself) leaves only the registry's levels."""
    if is_default_experiment(principal, experiment):
        if level == "read" or (scratch and level == "edit"):
            if level == "edit":
                require_writer(principal, action=action or "write")
            else:
                principal.require_scope("read")
            return level
        try:
            return require(principal, experiment, level, action=action)
        except NotFound as exc:  # every member can see Default, so this is a refusal, not a missing object
            raise PermissionDenied(
                f"Permission denied to {action or 'change'} the Default experiment."
            ) from exc
    return require(principal, experiment, level, action=action)
