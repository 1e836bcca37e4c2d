"""Aliases (`models:/name@alias`): set and delete, with optional preconditions; protected aliases need
manage_production."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from config.errors import Conflict, NotFound
from registry.models import (
    ModelAlias,
    ModelVersion,
    RegisteredModel,
    VersionStatus,
)
from registry.permissions import require
from registry.validation import (
    is_protected_alias,
    parse_version_number,
    validate_alias,
)
from tenants.access import Principal
from tenants.models import Tenant

from ._common import (
    emit_model_event,
    lock_model,
    touch,
)

logger = logging.getLogger(__name__)


def _parse_expected_version(expected_version: Any) -> int | None | str:
    """None: don't care. "" or 0: the alias must not exist yet ("absent"). N: it must point to version N."""
    if expected_version is None:
        return None
    if expected_version in ("", 0, "0"):
        return "absent"
    return parse_version_number(expected_version)


def _check_expected(model: RegisteredModel, alias: str, current: ModelAlias | None, expected) -> None:
    if expected is None:
        return
    have = current.version.version if current is not None else None
    if expected == "absent" and have is None:
        return
    if expected != "absent" and have == expected:
        return
    want = "absent" if expected == "absent" else f"version {expected}"
    now = "absent" if have is None else f"version {have}"
    raise Conflict(
        f"Alias '{alias}' of registered model '{model.name}' is {now}, not the expected {want}.",
        details={"current_version": str(have) if have is not None else None},
    )


def _alias_level(tenant: Tenant, alias: str) -> str:
    return "manage_production" if is_protected_alias(tenant, alias) else "edit"


@transaction.atomic(durable=True)
def alias_set(
    *, principal: Principal, model: RegisteredModel, alias: str, version: Any, expected_version: Any = None
) -> ModelAlias:
    alias = validate_alias(alias)
    number = version.version if isinstance(version, ModelVersion) else parse_version_number(version)
    expected = _parse_expected_version(expected_version)
    model = lock_model(principal, model)
    # Protected aliases need manage_production, whose scope is `promote`.
    require(principal, model, _alias_level(principal.tenant, alias), action=f"move alias '{alias}'")
    target = ModelVersion.objects.filter(model=model, version=number).first()
    if target is None:
        raise NotFound(f"Model Version (name={model.name}, version={number}) not found")
    if target.status != VersionStatus.READY:
        raise Conflict(
            f"Model Version (name={model.name}, version={number}) is {target.status}: only READY "
            f"versions can carry an alias."
        )
    current = (
        ModelAlias.objects.select_for_update()
        .select_related("version")
        .filter(model=model, alias=alias)
        .first()
    )
    _check_expected(model, alias, current, expected)
    before = current.version.version if current is not None else None
    user = principal.user if getattr(principal.user, "pk", None) else None
    if current is None:
        current = ModelAlias.objects.create(model=model, alias=alias, version=target, updated_by=user)
    else:
        current.version = target
        current.updated_by = user
        current.save(update_fields=["version", "updated_by", "updated_at"])
    touch(model)
    emit_model_event(
        principal,
        action="model_version_alias.set",
        obj=current,
        model=model,
        version=number,
        before={"alias": alias, "version": before},
        after={"alias": alias, "version": number},
    )
    return current


@transaction.atomic(durable=True)
def alias_delete(
    *, principal: Principal, model: RegisteredModel, alias: str, expected_version: Any = None
) -> None:
    alias = validate_alias(alias)
    expected = _parse_expected_version(expected_version)
    model = lock_model(principal, model)
    require(principal, model, _alias_level(principal.tenant, alias), action=f"delete alias '{alias}'")
    current = (
        ModelAlias.objects.select_for_update()
        .select_related("version")
        .filter(model=model, alias=alias)
        .first()
    )
    _check_expected(model, alias, current, expected)
    if current is None:
        return  # MLflow: deleting a missing alias is a no-op
    before = current.version.version
    emit_model_event(
        principal,
        action="model_version_alias.deleted",
        obj=current,
        model=model,
        version=before,
        before={"alias": alias, "version": before},
    )
    current.delete()
    touch(model)
