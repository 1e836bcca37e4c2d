"""The tenant dashboard (`/t/<tenant>/`, also where MLflow's printed UI links land) and the fragment forwarder."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_safe

from tenants.access import Principal

from .. import selectors
from ..access import page, tenant_page
from ..fragments import fragment_target


@require_safe
@tenant_page
def dashboard(request: HttpRequest, principal: Principal) -> HttpResponse:
    live = selectors.live_models(principal)
    events = selectors.recent_activity(principal)
    names = selectors.model_names_by_id({e.model_id for e in events if e.model_id is not None})
    activity = [{"event": e, "model_name": names.get(e.model_id or 0)} for e in events]
    return page(
        request,
        principal,
        "web/dashboard.html",
        {"live_models": live, "activity": activity},
        nav="dashboard",
    )


@require_safe
@tenant_page
def go(request: HttpRequest, principal: Principal) -> HttpResponse:
    """`?to=#/experiments/1/runs/<id>` → that run's page; anything unknown → the dashboard. The target page does
    its own permission check, so this reveals nothing."""
    slug = principal.tenant.slug
    target = fragment_target(slug, request.GET.get("to", ""))
    return HttpResponseRedirect(target or reverse("web:dashboard", kwargs={"tenant": slug}))
