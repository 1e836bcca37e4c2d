"""Helpers shared by the registry services: row locks in the fixed order, timestamps, the event call."""

from __future__ import annotations

from typing import Any

from config.common import now_ms
from config.errors import NotFound
from registry import events
from registry.models import ModelVersion, RegisteredModel
from tenants.access import Principal


def actor_user(principal: Principal | None) -> Any:
    """The principal's user when it is a saved row (audit actor, `created_by`), else None."""
    user = principal.user if principal is not None else None
    return user if getattr(user, "pk", None) else None


def actor_label(principal: Principal) -> str:
    return getattr(principal.user, "username", "") or ""


def lock_model(principal: Principal, model: RegisteredModel, *, no_key: bool = False) -> RegisteredModel:
    """Re-read and lock the model row, in the caller's tenant. A model deleted meanwhile answers 404.

    `no_key=True` takes FOR NO KEY UPDATE instead of FOR UPDATE: it still excludes every other service (they all
    lock the row first) but not a FOR KEY SHARE (foreign-key checks of rows inserted under the model); for a writer
    that changes no key column of the model row (the version counter)."""
    locked = (
        RegisteredModel.objects.for_tenant(principal.tenant)
        .select_for_update(of=("self",), no_key=no_key)
        .select_related("owner_team")
        .filter(pk=model.pk)
        .first()
    )
    if locked is None:
        raise NotFound(f"Registered Model with name={model.name} not found")
    return locked


def lock_version(principal: Principal, version: ModelVersion) -> tuple[RegisteredModel, ModelVersion]:
    """Lock the parent model row first, then the version row (the fixed order every service follows)."""
    model = lock_model(principal, version.model)
    locked = ModelVersion.objects.select_for_update().filter(pk=version.pk, model=model).first()
    if locked is None:
        raise NotFound(f"Model Version (name={model.name}, version={version.version}) not found")
    locked.model = model
    return model, locked


def touch(model: RegisteredModel, ts: int | None = None) -> None:
    model.last_updated_timestamp = ts or now_ms()
    model.save(update_fields=["last_updated_timestamp"])


def version_snapshot(version: ModelVersion) -> dict[str, Any]:
    return {"version": version.version, "stage": version.stage, "status": version.status}


def emit_model_event(
    principal: Principal | None,
    *,
    action: str,
    obj: Any,
    model: RegisteredModel,
    version: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    after_commit: Any = None,
    prepared: dict[str, Any] | None = None,
) -> None:
    """`events.emit` for a change to a registered model (or one of its versions, aliases, tags)."""
    events.emit(
        tenant=model.tenant if principal is None else principal.tenant,
        actor=principal.user if principal else None,
        action=action,
        obj=obj,
        model_id=model.pk,
        version=version,
        before=before,
        after=after,
        after_commit=after_commit,
        prepared=prepared,
    )
