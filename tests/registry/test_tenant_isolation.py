"""Nothing crosses tenants: another tenant's token gets the same 404 as an unknown tenant, never data; a suspended
tenant answers a clear 403; the tenant list is for platform admins only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts import services as account_services
from tenants import services as tenant_services
from tenants.models import Tenant
from tests.helpers import client_for, issue

# Paths of tenant "acme", prefixed; the MLflow ones also work unprefixed with X-MLFLOW-WORKSPACE (see below).
ACME_PATHS = [
    ("get", "/t/acme/api/v1/me"),
    ("get", "/t/acme/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"),
    ("get", "/t/acme/api/2.0/mlflow/registered-models/search"),
    ("post", "/t/acme/api/2.0/mlflow/registered-models/create"),
]
MLFLOW_PATHS = [
    ("get", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"),
    ("get", "/api/2.0/mlflow/registered-models/search"),
    ("post", "/api/2.0/mlflow/registered-models/create"),
    ("post", "/api/2.0/mlflow/runs/create"),
]


def unknown_tenant_body(slug: str) -> dict:
    return {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Tenant '{slug}' not found."}


def call(client: APIClient, method: str, path: str, **headers):
    if method == "get":
        return client.get(path, **headers)
    return client.post(path, {"name": "stolen", "experiment_id": "0"}, format="json", **headers)


@pytest.mark.parametrize(("method", "path"), ACME_PATHS)
def test_another_tenants_token_gets_the_same_404_as_an_unknown_tenant(
    tenant, outsider, other_tenant, method, path
):
    outsider_client = client_for(issue(outsider, other_tenant))
    res = call(outsider_client, method, path)
    assert res.status_code == 404, res.content
    assert res.json() == unknown_tenant_body("acme")
    unknown = call(outsider_client, method, path.replace("/t/acme/", "/t/initech/"))
    assert unknown.status_code == 404
    assert unknown.json() == unknown_tenant_body("initech")


@pytest.mark.parametrize(("method", "path"), MLFLOW_PATHS)
def test_the_workspace_header_cannot_reach_another_tenant(
    tenant, owner, outsider, other_tenant, method, path
):
    outsider_client = client_for(issue(outsider, other_tenant))
    res = call(outsider_client, method, path, HTTP_X_MLFLOW_WORKSPACE="acme")
    assert res.status_code == 404, res.content
    assert res.json() == unknown_tenant_body("acme")
    res = call(outsider_client, method, path, HTTP_X_MLFLOW_WORKSPACE="initech")
    assert res.json() == unknown_tenant_body("initech")
    # Acme's own member passes the tenant gate with the same header.
    res = call(client_for(issue(owner, tenant)), method, path, HTTP_X_MLFLOW_WORKSPACE="acme")
    assert res.json() != unknown_tenant_body("acme")


def test_a_token_works_only_for_the_tenant_it_was_issued_in(tenant, other_tenant, owner):
    # The same person in two tenants: each token opens its own tenant only.
    account_services.user_create(username="olivia", tenant=other_tenant, role="member")
    acme_token = issue(owner, tenant)
    globex_token = issue(owner, other_tenant)
    assert client_for(acme_token).get("/t/acme/api/v1/me").status_code == 200
    assert client_for(globex_token).get("/t/globex/api/v1/me").status_code == 200
    res = client_for(acme_token).get("/t/globex/api/v1/me")
    assert (res.status_code, res.json()) == (404, unknown_tenant_body("globex"))
    res = client_for(acme_token).get(
        "/api/2.0/mlflow/registered-models/search", HTTP_X_MLFLOW_WORKSPACE="globex"
    )
    assert (res.status_code, res.json()) == (404, unknown_tenant_body("globex"))


def test_unprefixed_mlflow_paths_without_a_workspace_name_no_tenant(owner, tenant):
    res = client_for(issue(owner, tenant)).get("/api/2.0/mlflow/registered-models/search")
    assert res.status_code == 404
    assert res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "X-MLFLOW-WORKSPACE" in res.json()["message"]


def test_a_session_user_sees_only_their_own_tenants(owner, tenant, other_tenant):
    client = APIClient()
    client.force_login(owner)
    assert client.get("/t/acme/api/v1/me").status_code == 200
    res = client.get("/t/globex/api/v1/me")
    assert (res.status_code, res.json()) == (404, unknown_tenant_body("globex"))


def test_unknown_mlflow_endpoints_answer_a_json_404_after_the_tenant_gate(
    owner, tenant, outsider, other_tenant
):
    res = client_for(issue(owner, tenant)).post("/t/acme/api/2.0/mlflow/nope/nothing", {}, format="json")
    assert res.status_code == 404
    assert res.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    # The endpoint's existence is not revealed to another tenant.
    res = client_for(issue(outsider, other_tenant)).post(
        "/t/acme/api/2.0/mlflow/nope/nothing", {}, format="json"
    )
    assert res.json() == unknown_tenant_body("acme")


def test_unknown_paths_answer_a_json_404(client, db):
    res = client.get("/no/such/page")
    assert res.status_code == 404
    assert res.json()["error_code"] == "ENDPOINT_NOT_FOUND"


@pytest.mark.parametrize("path", ["/api/3.0/mlflow/server-info", "/t/acme/api/3.0/mlflow/server-info"])
def test_server_info_reports_workspaces_without_revealing_tenants(client, db, path):
    # The client probes it (sometimes without credentials) before it sends X-MLFLOW-WORKSPACE.
    res = client.get(path)
    assert res.status_code == 200
    assert res.json()["workspaces_enabled"] is True
    assert "acme" not in res.content.decode()


# --- suspension -------------------------------------------------------------------------------------------------


def suspend(tenant: Tenant) -> None:
    tenant_services.tenant_set_status(tenant=tenant, status=Tenant.Status.SUSPENDED)


@pytest.mark.parametrize(("method", "path"), ACME_PATHS)
def test_a_suspended_tenant_answers_403_with_a_clear_message(owner, tenant, method, path):
    secret = issue(owner, tenant)
    suspend(tenant)
    res = call(client_for(secret), method, path)
    assert res.status_code == 403, res.content
    assert res.json() == {
        "error_code": "TENANT_SUSPENDED",
        "message": "Tenant 'acme' is suspended; contact your platform administrator.",
    }


def test_a_suspended_tenant_answers_403_through_the_workspace_header_too(owner, tenant):
    secret = issue(owner, tenant)
    suspend(tenant)
    res = client_for(secret).get("/api/2.0/mlflow/registered-models/search", HTTP_X_MLFLOW_WORKSPACE="acme")
    assert res.status_code == 403
    assert res.json()["error_code"] == "TENANT_SUSPENDED"


def test_suspension_does_not_reveal_a_tenant_to_outsiders(tenant, outsider, other_tenant):
    suspend(tenant)
    res = client_for(issue(outsider, other_tenant)).get("/t/acme/api/v1/me")
    assert (res.status_code, res.json()) == (404, unknown_tenant_body("acme"))


def test_reactivating_a_tenant_lets_its_tokens_back_in(owner, tenant):
    secret = issue(owner, tenant)
    suspend(tenant)
    assert client_for(secret).get("/t/acme/api/v1/me").status_code == 403
    tenant_services.tenant_set_status(tenant=tenant, status=Tenant.Status.ACTIVE)
    assert client_for(secret).get("/t/acme/api/v1/me").status_code == 200


def test_platform_admins_can_read_a_suspended_tenant_but_not_write(tenant):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "root-pw-123")
    suspend(tenant)
    client = APIClient()
    client.force_login(root)
    res = client.get("/t/acme/api/v1/me")
    assert res.status_code == 200, res.content
    assert (res.json()["role"], res.json()["is_platform_admin"]) == ("admin", True)
    res = client.post("/t/acme/api/2.0/mlflow/registered-models/create", {"name": "m"}, format="json")
    assert res.status_code == 403
    assert res.json()["error_code"] == "PERMISSION_DENIED"
    assert "suspended" in res.json()["message"]


def test_suspending_and_reactivating_is_audited(tenant):
    from registry.models import AuditEvent

    suspend(tenant)
    suspend(tenant)  # no change, no event
    event = AuditEvent.objects.filter(tenant=tenant, action="tenant.status_changed").get()
    assert (event.before, event.after) == ({"status": "active"}, {"status": "suspended"})


# --- the tenant list (platform admins) --------------------------------------------------------------------------


def test_platform_admins_list_every_tenant(tenant, other_tenant):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "root-pw-123")
    client = APIClient()
    client.force_login(root)
    res = client.get("/api/v1/tenants/")
    assert res.status_code == 200, res.content
    tenants = res.json()["tenants"]
    assert [t["slug"] for t in tenants] == ["acme", "globex"]
    assert tenants[0]["status"] == "active"


@pytest.mark.parametrize("who", ["owner", "tenant_admin", "viewer"])
def test_nobody_else_lists_tenants(request, tenant, who):
    user = request.getfixturevalue(who)
    res = client_for(issue(user, tenant)).get("/api/v1/tenants/")
    assert res.status_code == 403
    assert res.json()["error_code"] == "PERMISSION_DENIED"
    session = APIClient()
    session.force_login(user)
    assert session.get("/api/v1/tenants/").status_code == 403


def test_the_tenant_list_needs_credentials(db):
    assert APIClient().get("/api/v1/tenants/").status_code == 401


def test_a_superusers_token_carries_no_platform_admin_power(tenant, other_tenant):
    """One rule: platform-admin power comes from a signed-in session, never from an API token (a token belongs
    to one tenant), whatever its scopes."""
    root = get_user_model().objects.create_superuser("root", "root@example.com", "root-pw-123")
    tenant_services.membership_set(tenant=tenant, user=root, role="admin")
    api = client_for(issue(root, tenant, ["read", "write", "promote", "admin"]))
    res = api.get("/api/v1/tenants/")
    assert res.status_code == 403 and res.json()["error_code"] == "PERMISSION_DENIED"
    assert api.get("/t/acme/api/v1/me").json()["is_platform_admin"] is False
    assert api.get("/t/globex/api/v1/me").status_code == 404
