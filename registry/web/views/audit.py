"""The audit page: the tenant's event log with the API's filters (`registry.api.audit`: tenant admins see every
event, other members only the events of models they may read), pagination, "verify now" for tenant admins
(`verify_chain`), and what was live at a chosen time for a model (`registry.history.timetravel`)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from config.errors import ModelgateError, PermissionDenied
from registry.api.audit import AuditEventFilter, visible_events
from registry.audit import verify_chain
from registry.history.timetravel import stages_at
from tenants.access import Principal

from ..access import page, tenant_page

FILTERS = ("model", "version", "actor", "action", "since", "until")


def _live_at(principal: Principal, name: str, at: str) -> dict[str, Any]:
    """What was live at `at` for model `name`, or the reason it cannot be answered (shown beside the form)."""
    try:
        return {"state": stages_at(principal, name, at or None)}
    except ModelgateError as exc:
        return {"error": exc.message}


@require_safe
@tenant_page
def audit_list(request: HttpRequest, principal: Principal) -> HttpResponse:
    filterset = AuditEventFilter(request.GET, queryset=visible_events(principal), request=request)
    events = filterset.qs if filterset.is_valid() else visible_events(principal).none()
    page_obj = Paginator(events, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    at_model = request.GET.get("at_model", "").strip()
    context = {
        "filters": {name: request.GET.get(name, "") for name in FILTERS},
        "filter_errors": filterset.errors,
        "page_obj": page_obj,
        "query": query.urlencode(),
        "can_verify": principal.is_tenant_admin and not principal.tenant.is_suspended,
        "at_model": at_model,
        "at": request.GET.get("at", ""),
        "live": _live_at(principal, at_model, request.GET.get("at", "")) if at_model else None,
    }
    return page(request, principal, "web/audit.html", context, nav="audit")


@require_POST
@tenant_page
def audit_verify(request: HttpRequest, principal: Principal) -> HttpResponse:
    if not principal.is_tenant_admin:
        raise PermissionDenied("Verifying the audit log needs the tenant admin role.")
    result = verify_chain(principal.tenant)
    if result.ok:
        messages.success(request, f"Audit chain intact: {result.events} events verified.")
    else:
        messages.error(
            request,
            f"Audit chain NOT intact: first bad event {result.first_bad_seq}; {result.reason}",
        )
    return HttpResponseRedirect(reverse("web:audit", kwargs={"tenant": principal.tenant.slug}), status=303)
