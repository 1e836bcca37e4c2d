"""The audit page: filters and pagination over the events the user may read, "verify now" for tenant admins only
(the URL refuses others), what was live at a time, and another tenant's URL is 404."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.django_db


def test_a_tenant_admin_filters_the_log_and_verifies_the_chain(browser_for, tenant_admin, churn):
    browser = browser_for(tenant_admin)
    html = browser.get(
        "/t/acme/audit/?model=churn&action=model_version.stage_changed&version=1"
    ).content.decode()
    assert "model_version.stage_changed" in html and "model_version.created" not in html
    assert "Verify now" in html
    res = browser.post("/t/acme/audit/verify/", follow=True)
    assert "Audit chain intact" in res.content.decode()


def test_a_member_sees_model_events_but_cannot_verify(browser_for, teammate, tenant_admin, churn):
    browser = browser_for(teammate)
    html = browser.get("/t/acme/audit/").content.decode()
    assert "model_version.stage_changed" in html
    assert "membership.set" not in html  # tenant-level events are for tenant admins
    assert "Verify now" not in html
    assert browser.post("/t/acme/audit/verify/").status_code == 403


def test_what_was_live_at_a_time(browser_for, viewer, churn):
    browser = browser_for(viewer)
    now = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    html = browser.get(f"/t/acme/audit/?at_model=churn&at={now}").content.decode()
    assert "<dt>Production</dt><dd>version 1</dd>" in html
    assert "<dt>@champion</dt><dd>version 1</dd>" in html
    early = browser.get("/t/acme/audit/?at_model=churn&at=2000-01-01T00:00:00Z").content.decode()
    assert "<dt>Stages</dt><dd>none</dd>" in early
    missing = browser.get("/t/acme/audit/?at_model=nope").content.decode()
    assert "not found" in missing.lower()


def test_bad_filters_are_shown_not_500(browser_for, tenant_admin, churn):
    res = browser_for(tenant_admin).get("/t/acme/audit/?since=yesterday")
    assert res.status_code == 200 and "No events match." in res.content.decode()


def test_another_tenants_audit_is_404(browser_for, outsider, churn):
    browser = browser_for(outsider)
    assert browser.get("/t/acme/audit/").status_code == 404
    assert browser.post("/t/acme/audit/verify/").status_code == 404
    own = browser.get("/t/globex/audit/?model=churn").content.decode()
    assert "model_version.stage_changed" not in own
