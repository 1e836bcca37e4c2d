"""Personal tokens: the secret shown once with the lines to copy, scopes within the role, revoke own tokens only."""

from __future__ import annotations

import re

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiToken
from tests.conftest import issue

pytestmark = pytest.mark.django_db


def me(secret: str, tenant: str = "acme"):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client.get(f"/t/{tenant}/api/v1/me")


def test_a_member_creates_a_token_seen_once_that_works_against_the_api(browser_for, owner, tenant):
    browser = browser_for(owner)
    res = browser.post(
        "/t/acme/tokens/", {"name": "laptop", "scopes": ["read", "write"], "expires_days": "30"}
    )
    assert res.status_code == 200 and res["Cache-Control"] == "no-store"
    html = res.content.decode()
    assert "MLFLOW_TRACKING_URI=http://testserver/t/acme" in html
    secret = re.search(r"MLFLOW_TRACKING_TOKEN=(mgt_[A-Za-z0-9_-]+)", html).group(1)
    reply = me(secret)
    assert reply.status_code == 200
    assert reply.json()["username"] == "olivia" and reply.json()["scopes"] == ["read", "write"]
    token = ApiToken.objects.get(user=owner, name="laptop")
    assert 29 <= (token.expires_at - token.created_at).days <= 30
    listing = browser.get("/t/acme/tokens/").content.decode()
    assert secret not in listing and token.prefix in listing and "read, write" in listing


def test_a_viewer_may_only_ask_for_read(browser_for, viewer, tenant):
    browser = browser_for(viewer)
    html = browser.get("/t/acme/tokens/").content.decode()
    assert 'value="read"' in html and 'value="write"' not in html
    res = browser.post("/t/acme/tokens/", {"scopes": ["read", "write"], "expires_days": "7"})
    assert "MLFLOW_TRACKING_TOKEN" not in res.content.decode()
    assert not ApiToken.objects.filter(user=viewer).exists()


def test_a_member_revokes_their_own_token(browser_for, owner, tenant):
    secret = issue(owner, tenant, ["read"])
    token = ApiToken.objects.get(user=owner)
    res = browser_for(owner).post(f"/t/acme/tokens/{token.pk}/revoke/", follow=True)
    assert "revoked" in res.content.decode()
    assert me(secret).status_code == 401


def test_nobody_sees_or_revokes_someone_elses_token(browser_for, owner, teammate, outsider, tenant):
    issue(owner, tenant, ["read"])
    token = ApiToken.objects.get(user=owner)
    assert token.prefix not in browser_for(teammate).get("/t/acme/tokens/").content.decode()
    assert browser_for(teammate).post(f"/t/acme/tokens/{token.pk}/revoke/").status_code == 404
    assert browser_for(outsider).post(f"/t/acme/tokens/{token.pk}/revoke/").status_code == 404
    assert browser_for(outsider).post(f"/t/globex/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_an_outsider_cannot_issue_tokens_in_another_tenant(browser_for, outsider, tenant):
    res = browser_for(outsider).post("/t/acme/tokens/", {"scopes": ["read"], "expires_days": "7"})
    assert res.status_code == 404
    assert not ApiToken.objects.filter(user=outsider).exists()
