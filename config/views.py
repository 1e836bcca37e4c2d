"""The signed-in landing page: where the login form sends people. It lists the caller's tenants with the URLs to
give the MLflow client, until the tenant web views take over."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from tenants.models import Membership


@login_required
def home(request: HttpRequest) -> HttpResponse:
    base = request.build_absolute_uri("/").rstrip("/")
    memberships = (
        Membership.objects.filter(user=request.user).select_related("tenant").order_by("tenant__slug")
    )
    tenants = [
        {
            "slug": m.tenant.slug,
            "name": m.tenant.name,
            "role": m.role,
            "suspended": m.tenant.is_suspended,
            "tracking_uri": f"{base}/t/{m.tenant.slug}",
        }
        for m in memberships
    ]
    return render(request, "home.html", {"tenants": tenants, "base": base})
