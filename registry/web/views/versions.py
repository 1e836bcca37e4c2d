"""A model version: source run, manifest with downloads, stage and alias history, and the actions this user may
take (stage transition, set or move an alias here, delete an alias). Forms are shown only when
`registry.permissions.allows` says so; the services check again, so a hidden form's URL refuses too (403)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from config.errors import InvalidParameter, NotFound
from registry import selectors as registry_selectors
from registry import services
from registry.mlflow_api.artifacts import REGISTRY_PREFIX
from registry.models import ModelVersion, RegisteredModel, Stage, VersionStatus
from registry.tracking import selectors as tracking_selectors
from tenants.access import Principal

from .. import selectors
from ..access import after_post, may, page, tenant_page
from ..forms import AliasDeleteForm, AliasSetForm, TransitionForm
from .requests import governance_context


def allowed_stages(principal: Principal, model: RegisteredModel, version: ModelVersion) -> list[str]:
    """The stages this user may move the version to now (the service's own level rule, `stage_level`)."""
    if version.status != VersionStatus.READY:
        return []
    return [
        stage
        for stage in Stage.values
        if stage != version.stage and may(principal, model, services.stage_level(version.stage, stage))
    ]


def alias_level(principal: Principal, alias: str) -> str:
    return "manage_production" if services.is_protected_alias(principal.tenant, alias) else "edit"


def _download_base(principal: Principal, version: ModelVersion) -> str:
    """The artifact proxy's read-only path of a READY version's snapshot (`_registry/<model pk>/<version>/`),
    which a signed-in browser may GET (the API accepts the session)."""
    return (
        f"/t/{principal.tenant.slug}/api/2.0/mlflow-artifacts/artifacts/"
        f"{REGISTRY_PREFIX}/{version.model_id}/{version.version}/"
    )


@require_safe
@tenant_page
def version_detail(request: HttpRequest, principal: Principal, name: str, version: int) -> HttpResponse:
    found = registry_selectors.version_get(principal, name, version)
    model = found.model
    aliases = registry_selectors.version_aliases(found)
    source_run = None
    if found.run_id:
        try:
            source_run = tracking_selectors.run_get(principal, found.run_id, with_data=True)
        except NotFound:
            source_run = None  # the run was deleted, or lives in an experiment this user may not read
    stages = allowed_stages(principal, model, found)
    can_alias = found.status == VersionStatus.READY and may(principal, model, "edit")
    context = {
        "model": model,
        "version": found,
        "aliases": [
            {"name": a, "can_delete": may(principal, model, alias_level(principal, a))} for a in aliases
        ],
        "source_run": source_run,
        "manifest": registry_selectors.manifest(found),
        "download_base": _download_base(principal, found) if found.status == VersionStatus.READY else "",
        "history": selectors.version_history(model, found.version),
        "transition_form": TransitionForm(
            stages=stages, initial={"expected_stage": found.stage, "stage": stages[0] if stages else ""}
        )
        if stages
        else None,
        "alias_form": AliasSetForm() if can_alias else None,
        "protected_aliases": principal.tenant.protected_aliases,
        "can_protected": may(principal, model, "manage_production"),
        "existing_aliases": sorted(a.alias for a in model.aliases.all()),
    }
    context.update(governance_context(principal, found))
    return page(request, principal, "web/versions/detail.html", context, nav="models")


def _back(principal: Principal, version: ModelVersion) -> str:
    return reverse(
        "web:version",
        kwargs={"tenant": principal.tenant.slug, "name": version.model.name, "version": version.version},
    )


@require_POST
@tenant_page
def version_transition(request: HttpRequest, principal: Principal, name: str, version: int) -> HttpResponse:
    found = registry_selectors.version_get(principal, name, version)

    def transition() -> str:
        form = TransitionForm(request.POST, stages=list(Stage.values))
        if not form.is_valid():
            raise InvalidParameter("Pick a stage to move the version to.")
        data = form.cleaned_data
        moved = services.model_version_transition_stage(
            principal=principal,
            version=found,
            stage=data["stage"],
            archive_existing_versions=data["archive_existing_versions"],
            expected_stage=data["expected_stage"] or None,
            comment=data["comment"],
        )
        return f"Version {moved.version} is now in {moved.stage}."

    return after_post(request, _back(principal, found), transition)


@require_POST
@tenant_page
def alias_set(request: HttpRequest, principal: Principal, name: str, version: int) -> HttpResponse:
    found = registry_selectors.version_get(principal, name, version)

    def move() -> str:
        form = AliasSetForm(request.POST)
        if not form.is_valid():
            raise InvalidParameter("Give an alias name.")
        alias = form.cleaned_data["alias"].strip()
        services.alias_set(principal=principal, model=found.model, alias=alias, version=found.version)
        return f"@{alias} now points to version {found.version}."

    return after_post(request, _back(principal, found), move)


@require_POST
@tenant_page
def alias_delete(request: HttpRequest, principal: Principal, name: str, version: int) -> HttpResponse:
    found = registry_selectors.version_get(principal, name, version)

    def delete() -> str:
        form = AliasDeleteForm(request.POST)
        if not form.is_valid():
            raise InvalidParameter("Name the alias to delete.")
        alias = form.cleaned_data["alias"]
        # Only an alias of this version: the page's button must not delete one that moved meanwhile.
        services.alias_delete(
            principal=principal, model=found.model, alias=alias, expected_version=found.version
        )
        return f"@{alias} deleted."

    return after_post(request, _back(principal, found), delete)
