"""Reads of the native API that the registry selectors do not cover: the lists' base querysets and the
rows the views render, with what they show prefetched. Callers pass a model already found through
`registry.selectors.model_get` (tenant and read permission checked)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from config.errors import NotFound
from config.validation import is_storable
from registry import permissions
from registry.models import ModelAlias, ModelVersion, RegisteredModel
from tenants.access import Principal


def readable_models(principal: Principal) -> QuerySet:
    """Every model the caller may read, with what the list shows prefetched (no query per row)."""
    return (
        permissions.readable(principal, RegisteredModel.objects.all())
        .select_related("owner_team")
        .prefetch_related("tags", Prefetch("aliases", queryset=ModelAlias.objects.select_related("version")))
        .order_by("name")
    )


def versions_of(model: RegisteredModel) -> QuerySet:
    """A model's versions, newest first. The caller has already been checked for read on `model`."""
    return (
        ModelVersion.objects.filter(model=model)
        .select_related("model")
        .prefetch_related("tags", "aliases")
        .order_by("-version")
    )


def version_for_output(version: ModelVersion) -> ModelVersion:
    """Re-read a version (after a write: the committed state) with its tags and aliases."""
    return ModelVersion.objects.select_related("model").prefetch_related("tags", "aliases").get(pk=version.pk)


def require_alias(model: RegisteredModel, alias: str) -> None:
    """404 unless the readable model has this alias (one cheap query: resolution reads the version itself)."""
    if not (is_storable(alias) and ModelAlias.objects.filter(model=model, alias=alias).exists()):
        raise NotFound(f"Alias '{alias}' of registered model '{model.name}' not found.")


def alias_get(model: RegisteredModel, alias: str) -> ModelAlias:
    """An alias of a readable model; a missing one is a 404 (a REST resource, unlike MLflow's 400)."""
    row = (
        None
        if not is_storable(alias)
        # a NUL alias names nothing (PostgreSQL would refuse it)
        else (
            ModelAlias.objects.filter(model=model, alias=alias)
            .select_related("model__tenant", "version__model")
            .prefetch_related("version__tags", "version__aliases")
            .first()
        )
    )
    if row is None:
        raise NotFound(f"Alias '{alias}' of registered model '{model.name}' not found.")
    return row
