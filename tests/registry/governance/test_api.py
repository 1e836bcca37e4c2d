"""The governance endpoints of the native API: transition requests (create, list with filters and pagination,
detail, the per-model list), policies (list, get, put, delete), and the direct stage change refused where a policy
requires approval. Every endpoint refuses another tenant with 404 and a read-only user where they may not act
with 403."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import AuditEvent, TransitionPolicy, TransitionRequest

from .conftest import BASE, add_version, stage_of

pytestmark = pytest.mark.django_db


def create(client, version: int = 2, stage: str = "Production", **extra):
    body = {"model": "churn", "version": version, "stage": stage, "comment": "please", **extra}
    return client.post(f"{BASE}/transition-requests", body, format="json")


@pytest.fixture
def pending(clients, v2) -> dict:
    res = create(clients["rita"])
    assert res.status_code == 201, res.content
    return res.json()


# --- requests --------------------------------------------------------------------------------------------------


def test_create_answers_201_with_a_location_and_the_contract_fields(clients, v2):
    res = create(clients["rita"], archive_existing_versions=True, gate={"expected_current_version": 1})
    assert res.status_code == 201, res.content
    body = res.json()
    assert res["Location"].endswith(f"/t/acme/api/v1/transition-requests/{body['id']}")
    assert {
        "id",
        "status",
        "model",
        "version",
        "stage",
        "comment",
        "gate",
        "archive_existing_versions",
    } <= set(body)
    assert body["gate"] == {"expected_current_version": 1} and body["archive_existing_versions"] is True


@pytest.mark.parametrize(
    "extra, code",
    [
        ({"stage": "Nowhere"}, 400),
        ({"version": 0}, 400),
        ({"stage": "None", "archive_existing_versions": True}, 400),
        ({"gate": {"metric": "auc", "op": "~", "threshold": 1}}, 400),
        ({"version": 99}, 404),
        ({"version": 1}, 409),  # already in Production
    ],
)
def test_create_refuses_bad_requests(clients, v2, extra, code):
    res = create(clients["rita"], **extra)
    assert res.status_code == code, res.content
    assert not TransitionRequest.objects.exists()


def test_create_refuses_a_version_that_is_not_ready(clients, p_owner, model, tenant, v1):
    from tests.helpers import make_logged_model

    logged = make_logged_model(tenant)
    services.model_version_create(principal=p_owner, model=model, source=f"models:/{logged.model_id}")
    res = create(clients["rita"], version=2)
    assert res.status_code == 409 and "READY" in res.json()["message"]


def test_the_model_scoped_endpoints_create_and_list(clients, v2, pending):
    res = clients["tom"].post(
        f"{BASE}/models/churn/transition-requests", {"version": 2, "stage": "Staging"}, format="json"
    )
    assert res.status_code == 201, res.content
    listed = clients["vera"].get(f"{BASE}/models/churn/transition-requests").json()
    assert listed["count"] == 2 and {r["stage"] for r in listed["results"]} == {"Staging", "Production"}
    assert clients["vera"].get(f"{BASE}/models/nope/transition-requests").status_code == 404


def test_the_list_filters_by_status_model_mine_and_to_decide(clients, p_owner, model, tenant, v2, pending):
    staging = create(clients["tom"], stage="Staging").json()
    other = services.registered_model_create(principal=p_owner, name="other")
    add_version(p_owner, other, tenant)
    assert (
        clients["olivia"]
        .post(
            f"{BASE}/transition-requests", {"model": "other", "version": 1, "stage": "Staging"}, format="json"
        )
        .status_code
        == 201
    )

    def ids(client, query: str = "") -> list[int]:
        res = client.get(f"{BASE}/transition-requests{query}")
        assert res.status_code == 200, res.content
        return [r["id"] for r in res.json()["results"]]

    assert len(ids(clients["vera"])) == 3
    assert ids(clients["vera"], "?model=churn") == [staging["id"], pending["id"]]  # newest first
    assert ids(clients["rita"], "?mine=1") == [pending["id"]]
    # stella (manage_staging on churn only) may decide the Staging one; paul both churn requests; the requester
    # never their own; a viewer nothing.
    assert ids(clients["stella"], "?to_decide=1") == [staging["id"]]
    assert ids(clients["paul"], "?to_decide=1") == [staging["id"], pending["id"]]
    assert pending["id"] not in ids(clients["rita"], "?to_decide=1")
    assert ids(clients["vera"], "?to_decide=1") == []
    clients["paul"].post(f"{BASE}/transition-requests/{pending['id']}/approve", {}, format="json")
    assert ids(clients["paul"], "?to_decide=1") == [staging["id"]]
    assert ids(clients["vera"], "?status=approved") == [pending["id"]]
    assert clients["vera"].get(f"{BASE}/transition-requests?status=maybe").status_code == 400
    assert clients["vera"].get(f"{BASE}/transition-requests?mine=yes").status_code == 400


def test_the_list_paginates(clients, v2):
    for stage in ("Staging", "Production", "Archived"):
        assert create(clients["rita"], stage=stage).status_code == 201
    page = clients["rita"].get(f"{BASE}/transition-requests?limit=2").json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    rest = clients["rita"].get(f"{BASE}/transition-requests?limit=2&offset=2").json()
    assert len(rest["results"]) == 1


def test_another_tenant_gets_404_on_every_request_endpoint(clients, pending):
    oscar, rid = clients["oscar"], pending["id"]
    assert oscar.get(f"{BASE}/transition-requests").status_code == 404  # the tenant itself is not theirs
    assert oscar.get("/t/globex/api/v1/transition-requests").json()["count"] == 0
    for method, url in [
        ("get", f"/t/globex/api/v1/transition-requests/{rid}"),
        ("post", f"/t/globex/api/v1/transition-requests/{rid}/approve"),
        ("post", f"/t/globex/api/v1/transition-requests/{rid}/reject"),
        ("post", f"/t/globex/api/v1/transition-requests/{rid}/cancel"),
        ("get", "/t/globex/api/v1/models/churn/transition-requests"),
        ("post", "/t/globex/api/v1/models/churn/transition-requests"),
        ("get", f"{BASE}/transition-requests/{rid}"),
        ("post", f"{BASE}/transition-requests/{rid}/approve"),
        ("post", f"{BASE}/transition-requests/{rid}/reject"),
        ("post", f"{BASE}/transition-requests/{rid}/cancel"),
        ("get", f"{BASE}/models/churn/transition-requests"),
        ("post", f"{BASE}/models/churn/transition-requests"),
    ]:
        body = {"version": 2, "stage": "Staging", "comment": "x"}
        res = getattr(oscar, method)(url, body, format="json") if method == "post" else oscar.get(url)
        assert res.status_code == 404, (url, res.content)
        assert res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    res = oscar.post(
        "/t/globex/api/v1/transition-requests",
        {"model": "churn", "version": 2, "stage": "Staging"},
        format="json",
    )
    assert res.status_code == 404
    assert TransitionRequest.objects.get(pk=rid).status == "pending"


def test_a_model_the_caller_may_not_read_hides_its_requests(clients, tenant, pending):
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    tom = clients["tom"]  # no grant, not in the owning team
    assert tom.get(f"{BASE}/transition-requests").json()["count"] == 0
    assert tom.get(f"{BASE}/transition-requests/{pending['id']}").status_code == 404
    assert (
        tom.post(f"{BASE}/transition-requests/{pending['id']}/approve", {}, format="json").status_code == 404
    )
    assert create(tom, stage="Staging").status_code == 404


def test_a_read_only_token_cannot_see_requests(people, tenant, pending):
    from tests.helpers import client_for, issue

    no_scope = client_for(issue(people["paul"], tenant, ["write"]))
    assert no_scope.get(f"{BASE}/transition-requests/{pending['id']}").status_code == 404


# --- policies --------------------------------------------------------------------------------------------------


def test_policies_round_trip_for_a_manager(clients, model):
    olivia = clients["olivia"]
    assert olivia.get(f"{BASE}/models/churn/policies").json() == []
    body = {
        "requires_approval": True,
        "approvals_required": 2,
        "gate": {"metric": "auc", "op": ">=", "threshold": 0.8},
    }
    res = olivia.put(f"{BASE}/models/churn/policies/production", body, format="json")
    assert res.status_code == 200, res.content
    assert res.json()["stage"] == "Production" and res.json()["approvals_required"] == 2
    assert res.json()["updated_by"] == "olivia"
    assert olivia.get(f"{BASE}/models/churn/policies/Production").json()["gate"] == body["gate"]
    assert [p["stage"] for p in clients["vera"].get(f"{BASE}/models/churn/policies").json()] == ["Production"]
    assert AuditEvent.objects.filter(action="transition_policy.set", model_id=model.pk).count() == 1
    assert olivia.delete(f"{BASE}/models/churn/policies/Production").status_code == 204
    assert olivia.get(f"{BASE}/models/churn/policies/Production").status_code == 404
    assert olivia.delete(f"{BASE}/models/churn/policies/Production").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"approvals_required": 0},
        {"approvals_required": "many"},
        {"gate": {"metric": "auc", "op": ">=", "unknown": 1, "threshold": 1}},
        {"gate": {"require_tags": "yes"}},
    ],
)
def test_policies_reject_bad_input(clients, model, body):
    res = clients["olivia"].put(f"{BASE}/models/churn/policies/Production", body, format="json")
    assert res.status_code == 400, res.content
    assert clients["olivia"].put(f"{BASE}/models/churn/policies/Limbo", {}, format="json").status_code == 400
    assert not TransitionPolicy.objects.exists()


def test_only_managers_change_policies_and_other_tenants_see_nothing(clients, model):
    for name in ("paul", "vera", "tom"):  # manage_production is not manage; a viewer; a reader
        res = clients[name].put(f"{BASE}/models/churn/policies/Production", {}, format="json")
        assert res.status_code == 403, (name, res.content)
        assert clients[name].delete(f"{BASE}/models/churn/policies/Production").status_code == 403
    assert (
        clients["ada"].put(f"{BASE}/models/churn/policies/Production", {}, format="json").status_code == 200
    )
    for url in (f"{BASE}/models/churn/policies", "/t/globex/api/v1/models/churn/policies"):
        assert clients["oscar"].get(url).status_code == 404
    for base in (BASE, "/t/globex/api/v1"):
        url = f"{base}/models/churn/policies/Production"
        assert clients["oscar"].get(url).status_code == 404
        assert clients["oscar"].put(url, {}, format="json").status_code == 404
        assert clients["oscar"].delete(url).status_code == 404
    assert TransitionPolicy.objects.get().approvals_required == 1


def test_a_policy_requiring_approval_refuses_direct_transitions_except_for_tenant_admins(
    clients, p_owner, model, v2
):
    services.transition_policy_set(principal=p_owner, model=model, stage="Production")
    url = f"{BASE}/models/churn/versions/2/stage"
    for name in ("olivia", "paul"):  # the owner (manage), a production approver
        res = clients[name].post(url, {"stage": "Production"}, format="json")
        assert res.status_code == 403 and res.json()["error_code"] == "PERMISSION_DENIED"
        assert "POST /t/acme/api/v1/transition-requests" in res.json()["message"]
    assert stage_of(model, 2) == "None"
    # Staging has no policy: direct moves there still work.
    assert clients["olivia"].post(url, {"stage": "Staging"}, format="json").status_code == 200
    res = clients["ada"].post(url, {"stage": "Production", "archive_existing_versions": True}, format="json")
    assert res.status_code == 200, res.content
    assert stage_of(model, 2) == "Production" and stage_of(model, 1) == "Archived"


def test_the_contract_shapes_are_in_the_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    components = schema["components"]["schemas"]
    create_op = schema["paths"]["/t/{tenant}/api/v1/transition-requests"]["post"]
    ref = create_op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"model", "version", "stage", "archive_existing_versions", "comment", "gate"} <= set(
        components[ref]["properties"]
    )
    out = create_op["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"id", "status"} <= set(components[out]["properties"])
    for verb in ("approve", "reject", "cancel"):
        op = schema["paths"][f"/t/{{tenant}}/api/v1/transition-requests/{{request_id}}/{verb}"]["post"]
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert list(components[ref]["properties"]) == ["comment"]
    listing = schema["paths"]["/t/{tenant}/api/v1/transition-requests"]["get"]
    assert {p["name"] for p in listing["parameters"]} >= {
        "status",
        "model",
        "mine",
        "to_decide",
        "limit",
        "offset",
    }
    stage = schema["paths"]["/t/{tenant}/api/v1/models/{name}/versions/{version}/stage"]["post"]
    ref = stage["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "gate" in components[ref]["properties"]
