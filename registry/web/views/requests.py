"""Transition requests: the inbox (mine, to decide, all), a request's page with its history and gate result, and
the approve / reject / cancel forms. Buttons are offered only when the service would accept them; the services
check again, so a hidden button's URL refuses too (403)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from config.errors import InvalidParameter, NotFound
from registry import selectors as registry_selectors
from registry import services
from registry.api import request_selectors
from registry.models import ModelVersion, Stage, TransitionRequest, TransitionRequestStatus, VersionStatus
from registry.services.requests import approvers_of
from tenants.access import Principal

from ..access import after_post, may, page, tenant_page
from ..forms import DecisionForm, RequestStageForm

TABS = {"mine": "My requests", "decide": "To decide", "all": "All"}
OPEN = (TransitionRequestStatus.PENDING, TransitionRequestStatus.APPROVED)


def can_decide(principal: Principal, req: TransitionRequest) -> bool:
    """The service's rule: pending, not one's own, and the stage's level on the model with `promote`."""
    return (
        req.status == TransitionRequestStatus.PENDING
        and req.requested_by_id != getattr(principal.user, "pk", None)
        and principal.has_scope("promote")
        and may(principal, req.model, services.stage_level(req.version.stage, req.stage))
    )


def can_cancel(principal: Principal, req: TransitionRequest) -> bool:
    return (
        req.status in OPEN
        and req.requested_by_id is not None
        and req.requested_by_id == getattr(principal.user, "pk", None)
        and not principal.tenant.is_suspended
    )


@require_safe
@tenant_page
def request_list(request: HttpRequest, principal: Principal) -> HttpResponse:
    tab = request.GET.get("tab", "decide")
    if tab not in TABS:
        tab = "decide"
    rows = request_selectors.requests_visible(principal, mine=tab == "mine", to_decide=tab == "decide")
    page_obj = Paginator(rows, 50).get_page(request.GET.get("page"))
    context = {"tabs": TABS, "tab": tab, "page_obj": page_obj, "query": f"tab={tab}"}
    return page(request, principal, "web/requests/list.html", context, nav="requests")


@require_safe
@tenant_page
def request_detail(request: HttpRequest, principal: Principal, request_id: int) -> HttpResponse:
    req = request_selectors.request_get(principal, request_id)
    context = {
        "req": req,
        "approvers": approvers_of(req),
        "can_decide": can_decide(principal, req),
        "can_cancel": can_cancel(principal, req),
        "decision_form": DecisionForm(),
    }
    return page(request, principal, "web/requests/detail.html", context, nav="requests")


@require_POST
@tenant_page
def request_decide(request: HttpRequest, principal: Principal, request_id: int, verb: str) -> HttpResponse:
    actions = {
        "approve": services.transition_request_approve,
        "reject": services.transition_request_reject,
        "cancel": services.transition_request_cancel,
    }
    if verb not in actions:
        raise NotFound(f"No such action {verb!r}.")
    req = request_selectors.request_get(principal, request_id)
    back = reverse("web:request", kwargs={"tenant": principal.tenant.slug, "request_id": req.pk})

    def decide() -> str:
        form = DecisionForm(request.POST)
        comment = form.cleaned_data["comment"] if form.is_valid() else ""
        done = actions[verb](principal=principal, request=req, comment=comment)
        return f"Request {done.pk} is now {done.status}."

    return after_post(request, back, decide)


def requestable_stages(version) -> list[str]:
    if version.status != VersionStatus.READY:
        return []
    return [s for s in Stage.values if s != version.stage]


@require_POST
@tenant_page
def request_create(request: HttpRequest, principal: Principal, name: str, version: int) -> HttpResponse:
    found = registry_selectors.version_get(principal, name, version)
    back = reverse(
        "web:version",
        kwargs={"tenant": principal.tenant.slug, "name": found.model.name, "version": found.version},
    )

    def create() -> str:
        form = RequestStageForm(request.POST, stages=list(Stage.values))
        if not form.is_valid():
            raise InvalidParameter(
                "Pick a stage to request (and numbers for the gate's threshold and delta)."
            )
        data = form.cleaned_data
        req = services.transition_request_create(
            principal=principal,
            model=found.model,
            version=found.version,
            stage=data["stage"],
            archive_existing_versions=data["archive_existing_versions"],
            comment=data["comment"],
            gate=form.gate(),
        )
        return f"Requested {req.stage} for version {found.version} (request {req.pk}, {req.status})."

    return after_post(request, back, create)


def governance_context(principal: Principal, version: ModelVersion) -> dict[str, Any]:
    """The version page's governance sections: the "request a stage" form (any reader), the latest requests with
    their gate results, and the provenance (the API's JSON, downloadable with the session)."""
    from registry.history.provenance import provenance

    stages = requestable_stages(version) if not principal.tenant.is_suspended else []
    model = version.model
    api = f"/t/{principal.tenant.slug}/api/v1/models/{quote(model.name, safe='')}/versions/{version.version}/provenance"
    return {
        "request_form": RequestStageForm(stages=stages, auto_id="request_%s") if stages else None,
        "version_requests": list(
            request_selectors.requests_visible(principal, model=model).filter(version=version)[:10]
        ),
        "provenance": provenance(principal, model.name, version.version),
        "provenance_download": api + "?download=1",
    }
