"""Tenant admins manage their tenant in a real browser (headless Debian Chromium driven by Playwright, against a
live server): create a team, add a member and put them in the team, change a member's role, create a service
account (its token shown once, and it works), create a webhook (its secret shown once). A non-admin member sees
no Settings link and every settings URL answers 403."""

from __future__ import annotations

import os
import re

import pytest

from accounts import services as account_services
from accounts.models import ServiceAccount
from registry.webhooks.models import Webhook
from tenants.models import Membership, Team, TeamMembership

pytestmark = pytest.mark.django_db(transaction=True)
SCREENSHOTS = os.environ.get("MODELGATE_SCREENSHOTS")


def sign_in(page, user: str, password: str) -> None:
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def status_text(page) -> str:
    return page.get_by_role("status").first.inner_text()


def test_a_tenant_admin_manages_the_tenant_in_pages(page, tenant, other_tenant, team, tenant_admin, settings):
    settings.MODELGATE_WEBHOOK_ALLOW_PRIVATE = (
        True  # the receiver is a loopback URL; nothing is delivered here
    )
    tenant_admin.set_password("ada-pw-123")
    tenant_admin.save(update_fields=["password"])
    nina = account_services.user_create(
        username="nina", tenant=other_tenant, role="member", email="nina@example.com"
    )

    page.goto("/t/acme/")
    sign_in(page, "ada", "ada-pw-123")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.wait_for_url(re.compile(r"/t/acme/settings/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Tenant settings"

    # A team.
    page.get_by_label("Slug").fill("gamma")
    page.get_by_label("Display name (optional)").fill("Gamma squad")
    page.get_by_role("button", name="Create team").click()
    assert "Team gamma created." in status_text(page)
    assert Team.objects.get(tenant=tenant, slug="gamma").name == "Gamma squad"

    # An existing user (of another tenant) joins, by email, then joins the team.
    page.get_by_label("Username or email").fill("nina@example.com")
    page.get_by_label("Role in the tenant").select_option("member")
    page.get_by_role("button", name="Add member").click()
    assert "nina added to the tenant as member." in status_text(page)
    page.get_by_label("Add member to gamma").fill("nina")
    page.get_by_role("button", name="Add to gamma").click()
    assert "nina added to team gamma." in status_text(page)
    assert TeamMembership.objects.filter(team__slug="gamma", user=nina).exists()

    # A role change.
    page.get_by_label("Role of nina").select_option("viewer")
    page.get_by_role("button", name="Change role of nina").click()
    assert "nina is now viewer." in status_text(page)
    assert Membership.objects.get(tenant=tenant, user=nina).role == "viewer"

    # A service account: its token is shown once, and it works.
    page.get_by_label("Name", exact=True).fill("ci-bot")
    page.get_by_label("Team (optional)").select_option("gamma")
    page.get_by_role("button", name="Create service account").click()
    secret = page.locator("#service-account-token").inner_text().strip()
    assert ServiceAccount.objects.get(tenant=tenant, name="ci-bot").team.slug == "gamma"
    me = page.request.get("/t/acme/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status == 200 and me.json()["username"] == "sa.acme.ci-bot"

    # A webhook: its secret is shown once.
    page.get_by_label("Receiver URL").fill("http://127.0.0.1:9/modelgate")
    page.get_by_label("model_version.stage_changed").check()
    page.get_by_label("Description (optional)").fill("deploy bot")
    page.get_by_role("button", name="Create webhook").click()
    webhook_secret = page.locator("#webhook-secret").inner_text().strip()
    webhook = Webhook.objects.get(tenant=tenant)
    assert webhook_secret == webhook.secret and webhook.events == ["model_version.stage_changed"]
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, "settings.png"), full_page=True)

    page.goto("/t/acme/settings/")  # never shown again
    html = page.content()
    assert secret not in html and webhook_secret not in html
    assert page.get_by_role("button", name=f"Disable webhook {webhook.pk}").is_visible()


def test_a_non_admin_member_sees_no_settings_and_gets_403(page, tenant, owner, tenant_admin, team):
    page.goto("/t/acme/")
    sign_in(page, "olivia", "olivia-pw-123")
    page.wait_for_url(re.compile(r"/t/acme/$"))
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Models").is_visible()  # the nav is there, without Settings
    assert nav.get_by_role("link", name="Settings").count() == 0
    response = page.goto("/t/acme/settings/")
    assert response is not None and response.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "Not allowed"
    # The forms' URLs refuse too, even with a valid CSRF token (the 403 is the permission check's).
    token = page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value") or ""
    posts = {
        "/t/acme/settings/teams/": {"slug": "sneaky"},
        "/t/acme/settings/members/": {"user": "olivia", "role": "admin"},
        "/t/acme/settings/members/olivia/role/": {"role": "admin"},
        "/t/acme/settings/webhooks/": {"url": "http://127.0.0.1:9/x", "events": "*"},
        "/t/acme/settings/": {"name": "sneaky", "role": "admin"},
    }
    for url, data in posts.items():
        res = page.request.post(
            url, form={**data, "csrfmiddlewaretoken": token}, headers={"Referer": page.url}
        )
        assert res.status == 403 and "Not allowed" in res.text(), url
    assert Membership.objects.get(tenant=tenant, user=owner).role == "member"
    assert not Team.objects.filter(slug="sneaky").exists() and not Webhook.objects.exists()
    assert not ServiceAccount.objects.filter(name="sneaky").exists()
