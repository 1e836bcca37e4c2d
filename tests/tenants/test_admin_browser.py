"""The Django admin in a real browser (headless Debian Chromium, Playwright) against a live server: a platform
superuser creates a tenant and sets its quotas, every step audited; a tenant admin signs into the admin and sees
only their own tenant's memberships."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model

from accounts import services as account_services
from registry.models import AuditEvent
from tenants.models import Tenant
from tests.helpers import staff_tenant_admin

pytestmark = pytest.mark.django_db(transaction=True)


def admin_sign_in(page, username: str, password: str) -> None:
    page.goto("/admin/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def test_a_superuser_creates_a_tenant_with_quotas_and_a_tenant_admin_sees_only_theirs(
    browser_context, tenant, other_tenant, outsider
):
    get_user_model().objects.create_superuser("root", "root@example.com", "root-pw-123")
    staff_tenant_admin("tina", tenant, password="tina-pw-12345")
    account_services.user_create(username="member-acme", tenant=tenant, role="member")
    account_services.user_create(username="member-globex", tenant=other_tenant, role="member")

    page = browser_context().new_page()
    admin_sign_in(page, "root", "root-pw-123")
    page.locator("#tenants-tenant").get_by_role("link", name="Tenants").click()
    page.get_by_role("link", name="Add tenant").click()
    page.get_by_label("Slug").fill("initech")
    page.get_by_label("Name:", exact=True).fill("Initech")
    page.get_by_label("Quota models").fill("5")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/tenants/tenant/$"))
    page.locator("#result_list").get_by_role("link", name="initech", exact=True).click()
    page.get_by_label("Quota storage bytes").fill("1000000")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/tenants/tenant/$"))

    initech = Tenant.objects.get(slug="initech")
    assert (initech.quota_models, initech.quota_storage_bytes) == (5, 1_000_000)
    events = list(AuditEvent.objects.filter(tenant=initech).values_list("action", "actor_name"))
    assert ("tenant.created", "root") in events and ("tenant.updated", "root") in events

    page = browser_context().new_page()
    admin_sign_in(page, "tina", "tina-pw-12345")
    page.locator("#tenants-membership").get_by_role("link", name="Memberships").click()
    page.wait_for_url(re.compile(r"/admin/tenants/membership/$"))
    rows = page.locator("#result_list tbody tr")
    texts = [rows.nth(i).inner_text() for i in range(rows.count())]
    assert texts and all("acme" in t for t in texts), texts
    assert any("member-acme" in t for t in texts)
    assert "globex" not in page.content() and "initech" not in page.content()
