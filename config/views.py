"""The signed-in landing page: where the login form sends people. It lists the caller's tenants, each linking to
its dashboard (`/t/<tenant>/`), with the URL to give the MLflow client."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from accounts.models import User
from tenants.models import Membership


@login_required
def home(request: HttpRequest) -> HttpResponse:
    base = request.build_absolute_uri("/").rstrip("/")
    user = cast(User, request.user)  # login_required: never anonymous here
    memberships = Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__slug")
    tenants = [
        {
            "slug": m.tenant.slug,
            "name": m.tenant.name,
            "role": m.role,
            "suspended": m.tenant.is_suspended,
            "tracking_uri": f"{base}/t/{m.tenant.slug}",
            "dashboard_url": reverse("web:dashboard", kwargs={"tenant": m.tenant.slug}),
        }
        for m in memberships
    ]
    return render(request, "home.html", {"tenants": tenants, "base": base})
