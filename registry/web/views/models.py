"""Registered models: the searchable list, a model's page, and its grants editor (managers only)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.forms import BaseFormSet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from config.errors import InvalidParameter
from registry import permissions, services
from registry import selectors as registry_selectors
from registry.models import RegisteredModel
from tenants.access import Principal
from tenants.models import Membership

from .. import selectors
from ..access import after_post, may, page, tenant_page
from ..forms import GrantFormSet, ModelFilterForm

PAGE_SIZE = 25


@require_safe
@tenant_page
def model_list(request: HttpRequest, principal: Principal) -> HttpResponse:
    teams = [t.slug for t in selectors.tenant_teams(principal)]
    form = ModelFilterForm(request.GET or None, teams=teams)
    filters = selectors.ModelFilters()
    error = ""
    if form.is_bound:
        if form.is_valid():
            data = form.cleaned_data
            try:
                tags = tuple(selectors.parse_tag_filter(t) for t in request.GET.getlist("tag") if t.strip())
                filters = selectors.ModelFilters(
                    q=data["q"].strip(), tags=tags, team=data["team"], stage=data["stage"]
                )
            except InvalidParameter as exc:
                error = exc.message
        else:
            error = "Check the filters below."
    qs = selectors.models_filtered(principal, filters) if not error else RegisteredModel.objects.none()
    paginator = Paginator(qs, PAGE_SIZE)
    current = paginator.get_page(request.GET.get("page"))
    # Keep the filters in the pagination links.
    query = request.GET.copy()
    query.pop("page", None)
    return page(
        request,
        principal,
        "web/models/list.html",
        {"form": form, "page_obj": current, "filter_error": error, "query": query.urlencode()},
        nav="models",
    )


def _grant_subjects(principal: Principal) -> list[tuple[str, str]]:
    teams = [(f"team:{t.slug}", f"team {t.slug}") for t in selectors.tenant_teams(principal)]
    users = [
        (f"user:{username}", f"user {username}")
        for username in Membership.objects.filter(tenant=principal.tenant)
        .order_by("user__username")
        .values_list("user__username", flat=True)
    ]
    return teams + users


def _grants_formset(principal: Principal, model: RegisteredModel, data=None) -> BaseFormSet:
    initial = [
        {"subject": f"team:{g['team']}" if "team" in g else f"user:{g['user']}", "level": g["level"]}
        for g in permissions.grants_of(model)
    ]
    return GrantFormSet(
        data, initial=initial, prefix="grants", form_kwargs={"subjects": _grant_subjects(principal)}
    )


@require_safe
@tenant_page
def model_detail(request: HttpRequest, principal: Principal, name: str) -> HttpResponse:
    model = registry_selectors.model_with_relations(registry_selectors.model_get(principal, name))
    versions = sorted(model.versions.all(), key=lambda v: -v.version)
    aliases_by_version: dict[int, list[str]] = {}
    for alias in model.aliases.all():
        aliases_by_version.setdefault(alias.version.version, []).append(alias.alias)
    rows = [{"version": v, "aliases": aliases_by_version.get(v.version, [])} for v in versions]
    can_manage = may(principal, model, "manage")
    context = {
        "model": model,
        "tags": sorted(model.tags.all(), key=lambda t: t.key),
        "aliases": list(model.aliases.all()),
        "rows": rows,
        "grants": permissions.grants_of(model),
        "level": permissions.effective_level(principal, model),
        "can_manage": can_manage,
        "grants_formset": _grants_formset(principal, model) if can_manage else None,
    }
    return page(request, principal, "web/models/detail.html", context, nav="models")


@require_POST
@tenant_page
def model_grants(request: HttpRequest, principal: Principal, name: str) -> HttpResponse:
    """Replace the model's grants with the editor's rows. The service checks manage (403 otherwise)."""
    model = registry_selectors.model_get(principal, name)
    back = reverse("web:model", kwargs={"tenant": principal.tenant.slug, "name": model.name}) + "#grants"

    def replace() -> str:
        formset = _grants_formset(principal, model, request.POST)
        if not formset.is_valid():
            raise InvalidParameter("The grants form is invalid: pick a team or user and a level per row.")
        grants = [g for g in (f.grant() for f in formset.forms) if g is not None]
        services.registered_model_set_grants(principal=principal, model=model, grants=grants)
        return f"Grants of {model.name} saved ({len(grants)})."

    return after_post(request, back, replace)
