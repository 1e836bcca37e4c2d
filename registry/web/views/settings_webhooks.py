"""Tenant settings, webhooks part (tenant admins only, like `settings.py`): create a subscription (its signing
secret is generated here and shown once, like a service account's token), enable or disable it, delete it. The
delivery log and replay are in `settings_governance.py`; every change is a `registry.webhooks.services` call."""

from __future__ import annotations

import secrets

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from config.errors import InvalidParameter, NotFound
from registry import selectors as registry_selectors
from registry.models import RegisteredModel
from registry.webhooks import selectors as webhook_selectors
from registry.webhooks import services as webhook_services
from tenants.access import Principal

from ..access import after_post, tenant_page
from .settings import _back, _render, _require_admin

SECRET_BYTES = 32  # 43 URL-safe characters: well inside the service's 8-256 and too long to guess


@require_POST
@tenant_page
def webhook_create(request: HttpRequest, principal: Principal) -> HttpResponse:
    """Create a webhook; the page answers with its secret, shown once (so it is not a redirect). Bad input is
    shown above the form with the service's message."""
    _require_admin(principal)
    model_name = request.POST.get("model", "").strip()
    secret = secrets.token_urlsafe(SECRET_BYTES)
    try:
        model: RegisteredModel | None = None
        if model_name:
            try:
                model = registry_selectors.model_get(principal, model_name)
            except NotFound:  # a typo in a form field: say so on the page rather than answer a 404 page
                raise InvalidParameter(f"No model named '{model_name[:200]}' in this tenant.") from None
        webhook = webhook_services.webhook_create(
            principal=principal,
            url=request.POST.get("url", "").strip(),
            events=request.POST.getlist("events"),
            secret=secret,
            model=model,
            description=request.POST.get("description", "").strip(),
            active=request.POST.get("active") == "on",
        )
    except InvalidParameter as exc:
        kept = {
            "url": request.POST.get("url", ""),
            "model": model_name,
            "description": request.POST.get("description", ""),
            "events": request.POST.getlist("events"),
            "active": request.POST.get("active") == "on",
        }
        return _render(request, principal, webhook_error=exc.message, webhook_form=kept)
    return _render(request, principal, webhook_secret=secret, webhook_created=webhook)


@require_POST
@tenant_page
def webhook_active(request: HttpRequest, principal: Principal, webhook_id: int) -> HttpResponse:
    _require_admin(principal)
    webhook = webhook_selectors.webhook_get(principal, webhook_id, action="change the webhook")
    active = request.POST.get("active") == "on"

    def switch() -> str:
        webhook_services.webhook_update(principal=principal, webhook=webhook, active=active)
        return f"Webhook {webhook.pk} {'enabled' if active else 'disabled'}."

    return after_post(request, _back(principal, "webhooks-heading"), switch)


@require_POST
@tenant_page
def webhook_delete(request: HttpRequest, principal: Principal, webhook_id: int) -> HttpResponse:
    _require_admin(principal)
    webhook = webhook_selectors.webhook_get(principal, webhook_id, action="delete the webhook")

    def delete() -> str:
        webhook_services.webhook_delete(principal=principal, webhook=webhook)
        return f"Webhook {webhook_id} deleted."

    return after_post(request, _back(principal, "webhooks-heading"), delete)
