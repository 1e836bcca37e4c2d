"""`GET /t/<tenant>/api/v1/me` and `GET /api/v1/me`: who am I, exactly in DESIGN.md's shape."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts import services as account_services
from tenants import services as tenant_services
from tests.helpers import client_for, issue

CONTRACT_KEYS = {"username", "tenant", "role", "teams", "scopes", "is_service_account"}


def contract(body: dict) -> dict:
    assert CONTRACT_KEYS <= set(body), body
    return {key: body[key] for key in CONTRACT_KEYS}


@pytest.mark.parametrize("path", ["/t/acme/api/v1/me", "/api/v1/me"])
def test_me_describes_a_user(owner, tenant, path):
    res = client_for(issue(owner, tenant)).get(path)
    assert res.status_code == 200, res.content
    assert contract(res.json()) == {
        "username": "olivia",
        "tenant": "acme",
        "role": "member",
        "teams": ["alpha"],
        "scopes": ["read", "write", "promote", "admin"],
        "is_service_account": False,
    }


@pytest.mark.parametrize("path", ["/t/acme/api/v1/me", "/api/v1/me"])
def test_me_describes_a_service_account(tenant, team, path):
    _sa, secret = account_services.service_account_create(
        tenant=tenant, name="trainer", role="member", team=team, scopes="read,write"
    )
    res = client_for(secret).get(path)
    assert res.status_code == 200, res.content
    assert contract(res.json()) == {
        "username": "sa.acme.trainer",
        "tenant": "acme",
        "role": "member",
        "teams": ["alpha"],
        "scopes": ["read", "write"],
        "is_service_account": True,
    }


def test_me_lists_every_team_in_order_and_only_the_tenants_own(tenant, team, other_team, other_tenant):
    user = account_services.user_create(
        username="multi", tenant=tenant, role="admin", teams=[other_team, team]
    )
    account_services.user_create(
        username="multi",
        tenant=other_tenant,
        role="viewer",
        teams=[tenant_services.team_create(tenant=other_tenant, slug="gamma")],
    )
    body = client_for(issue(user, tenant)).get("/t/acme/api/v1/me").json()
    assert body["teams"] == ["alpha", "beta"]
    assert body["role"] == "admin"
    assert body["scopes"] == ["read", "write", "promote", "admin"]
    other = client_for(issue(user, other_tenant)).get("/api/v1/me").json()
    assert (other["tenant"], other["role"], other["teams"], other["scopes"]) == (
        "globex",
        "viewer",
        ["gamma"],
        ["read"],
    )


def test_me_for_a_viewer_shows_read_only(viewer, tenant):
    body = client_for(issue(viewer, tenant)).get("/t/acme/api/v1/me").json()
    assert (body["role"], body["teams"], body["scopes"]) == ("viewer", [], ["read"])


def test_me_shows_the_token_prefix_but_never_the_secret(owner, tenant):
    secret = issue(owner, tenant)
    res = client_for(secret).get("/t/acme/api/v1/me")
    assert secret not in res.content.decode()
    assert res.json()["token"]["prefix"] == secret[:12]


def test_unprefixed_me_with_a_session_uses_the_workspace_header(owner, tenant, other_tenant):
    account_services.user_create(username="olivia", tenant=other_tenant, role="viewer")
    client = APIClient()
    client.force_login(owner)
    res = client.get("/api/v1/me")  # two tenants, no header: nothing to choose from
    assert res.status_code == 404
    assert res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    res = client.get("/api/v1/me", HTTP_X_MLFLOW_WORKSPACE="globex")
    assert res.status_code == 200, res.content
    assert (res.json()["tenant"], res.json()["role"]) == ("globex", "viewer")


def test_unprefixed_me_with_a_session_in_one_tenant_needs_no_header(owner, tenant):
    client = APIClient()
    client.force_login(owner)
    body = client.get("/api/v1/me").json()
    assert (body["username"], body["tenant"], body["role"]) == ("olivia", "acme", "member")


def test_me_answers_404_for_a_tenant_the_token_does_not_belong_to(owner, tenant, other_tenant):
    res = client_for(issue(owner, tenant)).get("/t/globex/api/v1/me")
    assert res.status_code == 404
    assert res.json() == {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Tenant 'globex' not found."}


def test_me_refuses_anonymous_callers(tenant):
    assert APIClient().get("/t/acme/api/v1/me").status_code == 401
