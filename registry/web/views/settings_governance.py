"""Tenant settings, governance part (tenant admins only, like `settings.py`): set or edit a model's request policy
and gate (`transition_policy_set`; the settings page pre-fills its form from `?policy=<id>`), remove one
(`transition_policy_delete`), and replay a webhook delivery (`delivery_replay`). Webhooks and their delivery log
are listed on the settings page."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from config.errors import InvalidParameter
from registry import selectors as registry_selectors
from registry import services
from registry.webhooks import selectors as webhook_selectors
from registry.webhooks import services as webhook_services
from tenants.access import Principal

from ..access import after_post, tenant_page
from .settings import _back, _require_admin


@require_POST
@tenant_page
def policy_set(request: HttpRequest, principal: Principal) -> HttpResponse:
    _require_admin(principal)
    model = registry_selectors.model_get(principal, request.POST.get("model", "").strip())

    def save() -> str:
        raw_gate = request.POST.get("gate", "").strip()
        try:
            gate = json.loads(raw_gate) if raw_gate else None
        except json.JSONDecodeError as exc:
            raise InvalidParameter(f"The gate is not valid JSON: {exc.msg}.") from None
        try:
            approvals = int(request.POST.get("approvals_required") or 1)
        except ValueError:
            raise InvalidParameter("Approvals required must be a whole number.") from None
        policy = services.transition_policy_set(
            principal=principal,
            model=model,
            stage=request.POST.get("stage", ""),
            requires_approval=request.POST.get("requires_approval") == "on",
            approvals_required=approvals,
            gate=gate,
        )
        return f"Policy for {model.name} → {policy.stage} saved."

    return after_post(request, _back(principal, "policies-heading"), save)


@require_POST
@tenant_page
def policy_delete(request: HttpRequest, principal: Principal) -> HttpResponse:
    _require_admin(principal)
    model = registry_selectors.model_get(principal, request.POST.get("model", "").strip())
    stage = request.POST.get("stage", "")

    def delete() -> str:
        services.transition_policy_delete(principal=principal, model=model, stage=stage)
        return f"Policy for {model.name} → {stage} removed: one approval, no gate."

    return after_post(request, _back(principal, "policies-heading"), delete)


@require_POST
@tenant_page
def delivery_replay(
    request: HttpRequest, principal: Principal, webhook_id: int, delivery_id: str
) -> HttpResponse:
    _require_admin(principal)
    webhook = webhook_selectors.webhook_get(principal, webhook_id, action="replay a webhook delivery")

    def replay() -> str:
        delivery = webhook_services.delivery_replay(
            principal=principal, webhook=webhook, delivery_id=delivery_id
        )
        return f"Delivery replayed as {delivery.pk}."

    return after_post(request, _back(principal), replay)
