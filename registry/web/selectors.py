"""Reads the pages need beyond the API selectors: the dashboard's live versions and recent activity, the model
list's filters, a version's stage and alias history. Each starts from what the caller may read
(`registry.permissions.readable`), in the caller's tenant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from django.db.models import Prefetch, Q, QuerySet

from accounts.models import ApiToken, User
from config.errors import InvalidParameter, NotFound
from config.validation import is_storable
from registry.models import (
    AuditEvent,
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    RegisteredModelTag,
    Stage,
)
from registry.permissions import readable
from tenants.access import Principal
from tenants.models import Team

LIVE_STAGES = (Stage.PRODUCTION, Stage.STAGING)
HISTORY_ACTIONS = (
    "model_version.created",
    "model_version.ready",
    "model_version.stage_changed",
    "model_version_alias.set",
    "model_version_alias.deleted",
)


def readable_models(principal: Principal) -> QuerySet[RegisteredModel]:
    if not principal.has_scope("read"):
        return RegisteredModel.objects.none()
    return readable(principal, RegisteredModel.objects.all())


def live_models(principal: Principal, limit: int = 50) -> list[RegisteredModel]:
    """Models with a version in Production or Staging, or an alias: what is live, per model, newest change first.
    Each carries `live_versions` (Production first, then Staging) and `alias_rows`."""
    live = ModelVersion.objects.filter(stage__in=LIVE_STAGES).order_by(
        "stage", "-version"
    )  # Production before Staging
    qs = (
        readable_models(principal)
        .filter(Q(versions__stage__in=LIVE_STAGES) | Q(aliases__isnull=False))
        .distinct()
        .select_related("owner_team")
        .prefetch_related(
            Prefetch("versions", queryset=live, to_attr="live_versions"),
            Prefetch(
                "aliases",
                queryset=ModelAlias.objects.select_related("version").order_by("alias"),
                to_attr="alias_rows",
            ),
        )
        .order_by("-last_updated_timestamp", "name")
    )
    return list(qs[:limit])


def recent_activity(principal: Principal, limit: int = 20) -> list[AuditEvent]:
    """The newest audit events about models the caller may read (model and version events only: tokens, users
    and other tenants' business stay out of a member's view)."""
    model_ids = readable_models(principal).values("pk")
    return list(
        AuditEvent.objects.filter(tenant=principal.tenant, model_id__in=model_ids).order_by("-seq")[:limit]
    )


def model_names_by_id(ids: set[int]) -> dict[int, str]:
    return dict(RegisteredModel.objects.filter(pk__in=ids).values_list("pk", "name"))


@dataclass(frozen=True)
class ModelFilters:
    q: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    team: str = ""
    stage: str = ""


def parse_tag_filter(value: str) -> tuple[str, str]:
    key, sep, tag_value = value.partition("=")
    if not sep or not key.strip():
        raise InvalidParameter(f"Invalid tag filter '{value}': use key=value.")
    return key.strip(), tag_value.strip()


def models_filtered(principal: Principal, filters: ModelFilters) -> QuerySet[RegisteredModel]:
    """The model list: name contains `q`, every `key=value` tag, owner team slug, a version in `stage`."""
    for text in (filters.q, filters.team, filters.stage, *[p for t in filters.tags for p in t]):
        if not is_storable(text):
            raise InvalidParameter("Filters cannot contain NUL characters.")
    qs = readable_models(principal)
    if filters.q:
        qs = qs.filter(name__icontains=filters.q)
    for key, value in filters.tags:
        # One subquery per tag: each must match on its own tag row.
        qs = qs.filter(pk__in=RegisteredModelTag.objects.filter(key=key, value=value).values("model_id"))
    if filters.team:
        qs = qs.filter(owner_team__slug=filters.team)
    if filters.stage:
        qs = qs.filter(pk__in=ModelVersion.objects.filter(stage=filters.stage).values("model_id"))
    return (
        qs.select_related("owner_team")
        .prefetch_related(
            Prefetch("tags", queryset=RegisteredModelTag.objects.order_by("key")),
            Prefetch("versions", queryset=ModelVersion.objects.order_by("-version")),
            Prefetch("aliases", queryset=ModelAlias.objects.select_related("version").order_by("alias")),
        )
        .order_by("name")
    )


def tenant_teams(principal: Principal) -> list[Team]:
    return list(Team.objects.filter(tenant=principal.tenant).order_by("slug"))


def version_history(model: RegisteredModel, version: int) -> list[AuditEvent]:
    """Stage changes and alias moves of one version, oldest first: events recorded on it, and alias moves that
    took an alias away from it (recorded on the version the alias moved to)."""
    return list(
        AuditEvent.objects.filter(tenant_id=model.tenant_id, model_id=model.pk, action__in=HISTORY_ACTIONS)
        .filter(Q(version=version) | Q(action="model_version_alias.set", before__version=version))
        .order_by("seq")
    )


def own_tokens(principal: Principal) -> QuerySet[ApiToken]:
    """The caller's own tokens in this tenant, newest first (a member sees no one else's)."""
    user = cast(User, principal.user)
    return ApiToken.objects.filter(user=user, tenant=principal.tenant).order_by("-created_at")


def own_token(principal: Principal, token_id: int) -> ApiToken:
    token = own_tokens(principal).filter(pk=token_id).first()
    if token is None:
        raise NotFound("Token not found.")
    return token


def user_to_invite(identifier: str) -> User:
    """An existing active user named by username or email, for a tenant admin adding members. Not found is a
    form error (InvalidParameter), not a 404: the admin typed it, and the page they are on exists."""
    identifier = identifier.strip()
    if not identifier or not is_storable(identifier):
        raise InvalidParameter("Give the username or email of an existing user.")
    # Service accounts belong to the tenant that made them: never added to another one.
    people = User.objects.filter(is_active=True, service_account__isnull=True)
    found = list(people.filter(username=identifier)[:1]) or list(people.filter(email__iexact=identifier)[:2])
    if not found:
        raise InvalidParameter(f"No user has the username or email '{identifier[:200]}'.")
    if len(found) > 1:
        raise InvalidParameter(
            f"Several users have the email '{identifier[:200]}': give the username instead."
        )
    return found[0]
