"""Registered models: create, describe, rename, delete, tags, owner team and grants.

Ownership tags: `owner_team` is system-managed and mirrors `RegisteredModel.owner_team` (setting it is a change of
owner; it cannot be deleted). Any other key that is `owner` or starts with `owner_`, `owner.` or `owner-`
(`owner_email`, `owner.oncall` …) is an ownership tag too: anyone who can read the model sees them, only `manage`
may set or delete them."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from config.common import now_ms
from config.errors import AlreadyExists, InvalidParameter, NotFound, PermissionDenied, QuotaExceeded
from registry.artifacts import gc
from registry.models import (
    ModelVersion,
    ModelVersionFile,
    RegisteredModel,
    RegisteredModelTag,
)
from registry.permissions import grants_of, parse_grants, replace_grants, require
from registry.validation import (
    OWNER_TEAM_TAG,
    clean_description,
    is_ownership_tag,
    validate_model_name,
    validate_tag,
)
from tenants.access import Principal
from tenants.models import Team, Tenant

from ._common import (
    emit_model_event,
    lock_model,
    touch,
)

logger = logging.getLogger(__name__)


def _team_in_tenant(tenant: Tenant, team: Team | str | None) -> Team | None:
    if team is None or team == "":
        return None
    if isinstance(team, Team):
        if team.tenant_id != tenant.pk:
            raise InvalidParameter(f"Team '{team.slug}' not found in this tenant.")
        return team
    found = Team.objects.for_tenant(tenant).filter(slug=str(team)).first()
    if found is None:
        raise InvalidParameter(f"Team '{team}' not found in this tenant.")
    return found


def _set_owner_tag(model: RegisteredModel, team: Team | None) -> None:
    if team is None:
        RegisteredModelTag.objects.filter(model=model, key=OWNER_TEAM_TAG).delete()
    else:
        RegisteredModelTag.objects.update_or_create(
            model=model, key=OWNER_TEAM_TAG, defaults={"value": team.slug}
        )


@transaction.atomic(durable=True)
def registered_model_create(
    *,
    principal: Principal,
    name: str,
    description: str = "",
    tags: dict[str, str] | None = None,
    owner_team: Team | str | None = None,
) -> RegisteredModel:
    tenant = principal.tenant
    name = validate_model_name(name)
    description = clean_description(description)
    principal.require_contributor("create a registered model")
    clean_tags: dict[str, str] = {}
    for key, value in (tags or {}).items():
        key, value = validate_tag(key, value)
        clean_tags[key] = value
    # An `owner_team` tag at creation names the owner (MLflow clients can only pass tags).
    tag_owner = clean_tags.pop(OWNER_TEAM_TAG, None)
    team = _team_in_tenant(tenant, owner_team if owner_team not in (None, "") else tag_owner)
    if team is None:
        team = principal.default_team()
    elif not principal.is_tenant_admin and team.pk not in principal.team_ids:
        raise PermissionDenied(
            f"Permission denied: you can only create models owned by your own teams, not '{team.slug}'."
        )
    quota = Tenant.objects.filter(pk=tenant.pk).values_list("quota_models", flat=True).first()
    if quota is not None:
        # Lock the tenant row (and re-read the quota under it) so two concurrent creations cannot both pass.
        quota = (
            Tenant.objects.select_for_update()
            .filter(pk=tenant.pk)
            .values_list("quota_models", flat=True)
            .first()
        )
        if quota is not None and RegisteredModel.objects.for_tenant(tenant).count() >= quota:
            raise QuotaExceeded(f"Tenant '{tenant.slug}' has reached its quota of {quota} models.")
    ts = now_ms()
    try:
        with transaction.atomic():  # savepoint: a concurrent create of the same name loses on the unique key
            model = RegisteredModel.objects.create(
                tenant=tenant,
                name=name,
                description=description,
                owner_team=team,
                created_by=principal.user if getattr(principal.user, "pk", None) else None,
                creation_timestamp=ts,
                last_updated_timestamp=ts,
            )
    except IntegrityError as exc:
        raise AlreadyExists(f"Registered Model (name={name}) already exists.") from exc
    RegisteredModelTag.objects.bulk_create(
        [RegisteredModelTag(model=model, key=k, value=v) for k, v in clean_tags.items()]
    )
    _set_owner_tag(model, team)
    if team is None and getattr(principal.user, "pk", None):
        # No owning team: like MLflow, the creator gets manage, or they could not touch their own model.
        replace_grants(model, [("user", principal.user, "manage")])
    emit_model_event(
        principal,
        action="registered_model.created",
        obj=model,
        model=model,
        after={
            "name": name,
            "owner_team": team.slug if team else None,
            "description": description,
            "tags": clean_tags,
        },
    )
    return model


@transaction.atomic(durable=True)
def registered_model_update(
    *, principal: Principal, model: RegisteredModel, description: str
) -> RegisteredModel:
    model = lock_model(principal, model)
    require(principal, model, "edit", action="update the model")
    description = clean_description(description)
    before = model.description
    model.description = description
    model.last_updated_timestamp = now_ms()
    model.save(update_fields=["description", "last_updated_timestamp"])
    emit_model_event(
        principal,
        action="registered_model.updated",
        obj=model,
        model=model,
        before={"description": before},
        after={"description": description},
    )
    return model


@transaction.atomic(durable=True)
def registered_model_rename(
    *, principal: Principal, model: RegisteredModel, new_name: str
) -> RegisteredModel:
    model = lock_model(principal, model)
    require(principal, model, "manage", action="rename the model")
    new_name = validate_model_name(new_name, field="new_name")
    old = model.name
    if new_name == old:
        return model
    model.name = new_name
    model.last_updated_timestamp = now_ms()
    try:
        with transaction.atomic():
            model.save(update_fields=["name", "last_updated_timestamp"])
    except IntegrityError as exc:
        raise AlreadyExists(f"Registered Model (name={new_name}) already exists.") from exc
    emit_model_event(
        principal,
        action="registered_model.renamed",
        obj=model,
        model=model,
        before={"name": old},
        after={"name": new_name},
    )
    return model


@transaction.atomic(durable=True)
def registered_model_delete(*, principal: Principal, model: RegisteredModel) -> None:
    model = lock_model(principal, model)
    require(principal, model, "manage", action="delete the model")
    versions = list(ModelVersion.objects.filter(model=model).values_list("version", flat=True))
    # Audited before the delete so the event keeps the model's id; the same transaction commits both.
    emit_model_event(
        principal,
        action="registered_model.deleted",
        obj=model,
        model=model,
        before={"name": model.name, "versions": sorted(versions)},
    )
    # Its versions' bytes go after commit, unless something else still references them (registry.artifacts.gc).
    gc.on_commit_collect(
        ModelVersionFile.objects.filter(version__model=model).values_list("blob_id", flat=True).distinct()
    )
    model.delete()


@transaction.atomic(durable=True)
def registered_model_set_tag(*, principal: Principal, model: RegisteredModel, key: str, value: str) -> None:
    key, value = validate_tag(key, value)
    model = lock_model(principal, model)
    tag = RegisteredModelTag.objects.filter(model=model, key=key).first()
    if is_ownership_tag(key) and tag is not None and tag.value == value:
        # Re-applying an ownership tag with the value it already has changes nothing, so edit is enough: training
        # scripts re-apply their tags on every run with tokens that cannot (and need not) change the owner.
        require(principal, model, "edit", action=f"set tag '{key}'")
        return
    if key == OWNER_TEAM_TAG:
        require(principal, model, "manage", action="change the owner team")
        if not value:
            raise InvalidParameter(
                "The 'owner_team' tag names the owning team: give a team slug of this tenant."
            )
        _set_owner(principal, model, _team_in_tenant(principal.tenant, value))
        return
    require(principal, model, "manage" if is_ownership_tag(key) else "edit", action=f"set tag '{key}'")
    before = tag.value if tag else None
    if tag is None:
        RegisteredModelTag.objects.create(model=model, key=key, value=value)
    elif tag.value != value:
        tag.value = value
        tag.save(update_fields=["value"])
    touch(model)
    emit_model_event(
        principal,
        action="registered_model.tag_set",
        obj=model,
        model=model,
        before={"key": key, "value": before},
        after={"key": key, "value": value},
    )


@transaction.atomic(durable=True)
def registered_model_delete_tag(*, principal: Principal, model: RegisteredModel, key: str) -> None:
    key, _ = validate_tag(key, check_value=False)
    model = lock_model(principal, model)
    require(principal, model, "manage" if is_ownership_tag(key) else "edit", action=f"delete tag '{key}'")
    if key == OWNER_TEAM_TAG:
        raise InvalidParameter(
            "The 'owner_team' tag is system-managed: change the model's owner team instead."
        )
    tag = RegisteredModelTag.objects.filter(model=model, key=key).first()
    if tag is None:
        # MLflow answers 404 for a missing registered-model tag.
        raise NotFound(f"No tag with name: {key} in registered model {model.name}.")
    before = tag.value
    tag.delete()
    touch(model)
    emit_model_event(
        principal,
        action="registered_model.tag_deleted",
        obj=model,
        model=model,
        before={"key": key, "value": before},
    )


def _set_owner(principal: Principal, model: RegisteredModel, team: Team | None) -> RegisteredModel:
    before = model.owner_team.slug if model.owner_team is not None else None
    if model.owner_team_id == (team.pk if team else None):
        return model
    model.owner_team = team
    model.last_updated_timestamp = now_ms()
    model.save(update_fields=["owner_team", "last_updated_timestamp"])
    _set_owner_tag(model, team)
    emit_model_event(
        principal,
        action="registered_model.owner_changed",
        obj=model,
        model=model,
        before={"owner_team": before},
        after={"owner_team": team.slug if team else None},
    )
    return model


@transaction.atomic(durable=True)
def registered_model_set_owner(
    *, principal: Principal, model: RegisteredModel, team: Team | str | None
) -> RegisteredModel:
    model = lock_model(principal, model)
    require(principal, model, "manage", action="change the owner team")
    return _set_owner(principal, model, _team_in_tenant(principal.tenant, team))


@transaction.atomic(durable=True)
def registered_model_set_grants(
    *, principal: Principal, model: RegisteredModel, grants: list[dict]
) -> list[dict]:
    model = lock_model(principal, model)
    require(principal, model, "manage", action="change permissions")
    parsed = parse_grants(principal.tenant, grants)
    before = grants_of(model)
    replace_grants(model, parsed)
    after = grants_of(model)
    emit_model_event(
        principal,
        action="registered_model.grants_replaced",
        obj=model,
        model=model,
        before={"grants": before},
        after={"grants": after},
    )
    return after
