"""The web views' gatekeeper: a signed-in session user, resolved to a `Principal` of the URL's tenant exactly as
the APIs do (`tenants.access.principal_for`), and Modelgate errors rendered as pages.

Another tenant's URL, a missing object and an unreadable one all raise `NotFound` in the selectors: the page is
the same 404. A readable object the caller may not change raises `PermissionDenied` in the service: 403."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from config.errors import ModelgateError, NotFound, PermissionDenied, TenantSuspended
from tenants.access import Principal, principal_for

PageView = Callable[..., HttpResponse]


def error_page(request: HttpRequest, exc: ModelgateError) -> HttpResponse:
    status = exc.status if 400 <= exc.status < 500 else 500
    titles = {403: "Not allowed", 404: "Not found"}
    context = {"status": status, "title": titles.get(status, "Cannot do that"), "message": exc.message}
    return render(request, "web/error.html", context, status=status)


def tenant_page(view: PageView) -> PageView:
    """Sign-in first (back to this URL afterwards), then the tenant gatekeeper; the view gets the principal.

    Errors of the gatekeepers and services become error pages with their message; the view itself handles the
    errors a form can recover from (`form_errors`)."""

    @wraps(view)
    def wrapper(request: HttpRequest, tenant: str, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            principal = principal_for(request, request.user, None)
            request.principal = principal  # type: ignore[attr-defined]
            response = view(request, principal, *args, **kwargs)
        except ModelgateError as exc:
            return error_page(request, exc)
        # Pages show what this user may do: they must never be served to someone else from a cache.
        response.headers.setdefault("Cache-Control", "private, no-cache")
        return response

    return wrapper


# Refusals are pages (403/404); anything else a form submission hits (bad input, a stale precondition) is shown as
# a message above the form the user came from, so they can correct it.
REFUSALS = (NotFound, PermissionDenied, TenantSuspended)


def after_post(request: HttpRequest, back: str, action: Callable[[], str | None]) -> HttpResponse:
    """Run a form's service call; on success flash its message, on a recoverable error flash the error. Either
    way redirect (303) to `back`, so reloading the page never repeats the POST."""
    try:
        done = action()
    except REFUSALS:
        raise
    except ModelgateError as exc:
        messages.error(request, exc.message)
    else:
        if done:
            messages.success(request, done)
    return HttpResponseRedirect(back, status=303)


def may(principal: Principal, obj: Any, level: str) -> bool:
    """Whether to offer an action needing `level` on `obj`: the gatekeeper's answer, and never in a suspended
    tenant (read-only even for the platform admins who may still look at it)."""
    from registry.permissions import allows

    return not principal.tenant.is_suspended and allows(principal, obj, level)


def page(
    request: HttpRequest, principal: Principal, template: str, context: dict[str, Any], *, nav: str = ""
) -> HttpResponse:
    """Render a page of the tenant layout (`web/base.html`): the nav needs the tenant and the active section."""
    base = {"principal": principal, "tenant": principal.tenant, "nav": nav}
    return render(request, template, {**base, **context})
