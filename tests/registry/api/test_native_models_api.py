"""The native registry API (`/t/<tenant>/api/v1/models/…`): the model endpoints, and the refusals of every endpoint —
another tenant gets 404 and never data, a viewer gets 403 on writes, unknown objects 404, bad input 400
INVALID_PARAMETER_VALUE. Versions and stages: test_native_versions_api.py; aliases and resolve:
test_native_aliases_api.py."""

from __future__ import annotations

from typing import Any

import pytest

from registry.models import RegisteredModel
from tests.helpers import client_for, issue

from .conftest import ALL_SCOPES, BASE, error_code

# --- models --------------------------------------------------------------------------------------------------------


def test_it_creates_a_model_owned_by_the_callers_team(owner_api):
    res = owner_api.post(
        f"{BASE}/models/", {"name": "fraud", "description": "d", "tags": {"k": "v"}}, format="json"
    )
    assert res.status_code == 201, res.content
    body = res.json()
    assert body["name"] == "fraud"
    assert body["owner_team"] == "alpha"
    assert body["tags"] == {"k": "v", "owner_team": "alpha"}
    assert body["permission_level"] == "manage"
    assert res["Location"].endswith("/t/acme/api/v1/models/fraud")


def test_it_refuses_a_duplicate_model_name(owner_api, churn):
    res = owner_api.post(f"{BASE}/models/", {"name": "churn"}, format="json")
    assert res.status_code == 409
    assert error_code(res) == "RESOURCE_ALREADY_EXISTS"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "a/b"},
        {"name": "x", "tags": "nope"},
        {"name": "x", "owner_team": "no-such-team"},
    ],
)
def test_it_rejects_bad_model_input(owner_api, body):
    res = owner_api.post(f"{BASE}/models/", body, format="json")
    assert res.status_code == 400, res.content
    assert error_code(res) == "INVALID_PARAMETER_VALUE"


def test_model_detail_shows_latest_versions_tags_aliases_owner_and_level(owner_api, churn, teammate, tenant):
    body = owner_api.get(f"{BASE}/models/churn").json()
    assert body["owner_team"] == "alpha"
    assert body["tags"] == {"domain": "crm", "owner_team": "alpha"}
    assert body["aliases"] == {"champion": 1}
    assert {v["stage"]: v["version"] for v in body["latest_versions"]} == {
        "Production": 1,
        "Staging": 2,
        "None": 3,
    }
    assert body["permission_level"] == "manage"
    assert (
        client_for(issue(teammate, tenant)).get(f"{BASE}/models/churn").json()["permission_level"] == "read"
    )


def test_it_lists_only_models_the_caller_may_read(owner_api, churn, teammate, tenant):
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    tom = client_for(issue(teammate, tenant))
    assert tom.get(f"{BASE}/models/").json()["results"] == []
    assert (
        owner_api.put(
            f"{BASE}/models/churn/permissions", {"grants": [{"user": "tom", "level": "read"}]}, format="json"
        ).status_code
        == 200
    )
    assert [m["name"] for m in tom.get(f"{BASE}/models/").json()["results"]] == ["churn"]


def test_the_list_filters_by_name_tag_team_and_stage(owner_api, churn, tenant, other_team, tenant_admin):
    admin = client_for(issue(tenant_admin, tenant, ALL_SCOPES))
    assert (
        admin.post(
            f"{BASE}/models/",
            {"name": "churn-v2", "owner_team": "beta", "tags": {"domain": "ads"}},
            format="json",
        ).status_code
        == 201
    )

    def names(query: str) -> list[str]:
        res = owner_api.get(f"{BASE}/models/?{query}")
        assert res.status_code == 200, res.content
        return [m["name"] for m in res.json()["results"]]

    assert names("") == ["churn", "churn-v2"]
    assert names("name=churn") == ["churn"]
    assert names("name__contains=v2") == ["churn-v2"]
    assert names("tag=domain:ads") == ["churn-v2"]
    assert names("tag=domain:crm&tag=owner_team:alpha") == ["churn"]
    assert names("tag=domain:crm&tag=owner_team:beta") == []
    assert names("team=beta") == ["churn-v2"]
    assert names("stage=production") == ["churn"]
    assert names("stage=Archived") == []


@pytest.mark.parametrize("query", ["tag=nocolon", "stage=Bogus", "limit=abc"])
def test_the_list_rejects_bad_filters(owner_api, churn, query):
    res = owner_api.get(f"{BASE}/models/?{query}")
    if query.startswith("limit"):
        assert res.status_code == 200  # DRF's limit/offset falls back to the default on garbage
        return
    assert res.status_code == 400, res.content
    assert error_code(res) == "INVALID_PARAMETER_VALUE"


def test_the_list_paginates_with_limit_and_offset(owner_api):
    for i in range(5):
        assert owner_api.post(f"{BASE}/models/", {"name": f"m{i}"}, format="json").status_code == 201
    page = owner_api.get(f"{BASE}/models/?limit=2&offset=2").json()
    assert page["count"] == 5
    assert [m["name"] for m in page["results"]] == ["m2", "m3"]
    assert "offset=4" in page["next"]


def test_it_updates_renames_and_deletes_a_model(owner_api, churn):
    res = owner_api.patch(f"{BASE}/models/churn", {"description": "new"}, format="json")
    assert res.status_code == 200 and res.json()["description"] == "new"
    res = owner_api.post(f"{BASE}/models/churn/rename", {"new_name": "attrition"}, format="json")
    assert res.status_code == 200, res.content
    assert res.json()["name"] == "attrition"
    assert owner_api.get(f"{BASE}/models/churn").status_code == 404
    assert owner_api.get(f"{BASE}/models/attrition/versions/1").json()["name"] == "attrition"
    assert owner_api.delete(f"{BASE}/models/attrition").status_code == 204
    assert owner_api.get(f"{BASE}/models/attrition").status_code == 404


def test_rename_onto_an_existing_name_is_refused(owner_api, churn):
    assert owner_api.post(f"{BASE}/models/", {"name": "other"}, format="json").status_code == 201
    res = owner_api.post(f"{BASE}/models/churn/rename", {"new_name": "other"}, format="json")
    assert res.status_code == 409
    assert error_code(res) == "RESOURCE_ALREADY_EXISTS"


def test_it_sets_and_deletes_model_tags(owner_api, churn):
    res = owner_api.put(f"{BASE}/models/churn/tags/team.note", {"value": "hello"}, format="json")
    assert res.status_code == 200 and res.json() == {"key": "team.note", "value": "hello"}
    assert owner_api.get(f"{BASE}/models/churn").json()["tags"]["team.note"] == "hello"
    assert owner_api.delete(f"{BASE}/models/churn/tags/team.note").status_code == 204
    assert "team.note" not in owner_api.get(f"{BASE}/models/churn").json()["tags"]
    assert owner_api.delete(f"{BASE}/models/churn/tags/team.note").status_code == 404
    assert (
        error_code(owner_api.put(f"{BASE}/models/churn/tags/k", {}, format="json"))
        == "INVALID_PARAMETER_VALUE"
    )


def test_it_changes_the_owner_team_and_the_ownership_tag_follows(owner_api, churn, other_team):
    res = owner_api.put(f"{BASE}/models/churn/owner", {"team": "beta"}, format="json")
    assert res.status_code == 200, res.content
    assert res.json()["owner_team"] == "beta"
    assert res.json()["tags"]["owner_team"] == "beta"
    # Olivia (alpha) no longer owns it: with the default read-for-members she can read it but not manage it.
    assert res.json()["permission_level"] == "read"
    res = owner_api.put(f"{BASE}/models/churn/owner", {"team": "nope"}, format="json")
    assert res.status_code in (400, 403)


def test_permissions_round_trip_in_the_contract_shape(owner_api, churn, teammate, other_team):
    grants = [{"team": "beta", "level": "edit"}, {"user": "tom", "level": "manage_staging"}]
    res = owner_api.put(f"{BASE}/models/churn/permissions", {"grants": grants}, format="json")
    assert res.status_code == 200, res.content
    expected = sorted(grants, key=lambda g: ("team" in g, g.get("user") or g.get("team")))
    assert res.json() == {"grants": expected}
    assert owner_api.get(f"{BASE}/models/churn/permissions").json() == {"grants": expected}
    # PUT replaces: an empty list removes every grant.
    assert owner_api.put(f"{BASE}/models/churn/permissions", {"grants": []}, format="json").json() == {
        "grants": []
    }


@pytest.mark.parametrize(
    "grants",
    [
        "nope",
        [{"level": "read"}],
        [{"team": "beta", "user": "tom", "level": "read"}],
        [{"team": "beta", "level": "owner"}],
        [{"team": "no-such-team", "level": "read"}],
        [{"user": "oscar", "level": "read"}],  # a user of another tenant
    ],
)
def test_it_rejects_bad_grants(owner_api, churn, other_team, teammate, outsider, grants):
    res = owner_api.put(f"{BASE}/models/churn/permissions", {"grants": grants}, format="json")
    assert res.status_code == 400, res.content
    assert error_code(res) == "INVALID_PARAMETER_VALUE"


# --- refusals on every endpoint ------------------------------------------------------------------------------------


READS = [
    ("get", "models/churn", None),
    ("get", "models/churn/permissions", None),
    ("get", "models/churn/versions/", None),
    ("get", "models/churn/versions/1", None),
    ("get", "models/churn/aliases/champion", None),
    ("get", "models/churn/resolve?version=1", None),
]
WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("patch", "models/churn", {"description": "x"}),
    ("delete", "models/churn", None),
    ("post", "models/churn/rename", {"new_name": "y"}),
    ("put", "models/churn/tags/k", {"value": "v"}),
    ("delete", "models/churn/tags/domain", None),
    ("put", "models/churn/owner", {"team": "alpha"}),
    ("put", "models/churn/permissions", {"grants": []}),
    ("post", "models/churn/versions/", {"source": "runs:/{run}/model"}),
    ("patch", "models/churn/versions/1", {"description": "x"}),
    ("delete", "models/churn/versions/1", None),
    ("put", "models/churn/versions/1/tags/k", {"value": "v"}),
    ("delete", "models/churn/versions/1/tags/k", None),
    ("post", "models/churn/versions/3/stage", {"stage": "Staging"}),
    ("put", "models/churn/aliases/candidate", {"version": 3}),
    ("delete", "models/churn/aliases/champion", None),
]


def _call(client, method: str, path: str, body, run, prefix: str = BASE):
    if isinstance(body, dict):
        body = {k: v.replace("{run}", run.run_id) if isinstance(v, str) else v for k, v in body.items()}
    return (
        getattr(client, method)(f"{prefix}/{path}", body, format="json")
        if body is not None
        else getattr(client, method)(f"{prefix}/{path}")
    )


@pytest.mark.parametrize(
    "method,path,body", READS + WRITES + [("get", "models/", None), ("post", "models/", {"name": "z"})]
)
def test_another_tenants_token_gets_404_and_no_data(churn, run, outsider, other_tenant, method, path, body):
    client = client_for(issue(outsider, other_tenant, ALL_SCOPES))
    res = _call(client, method, path, body, run)  # their token against our tenant's URL
    assert res.status_code == 404, res.content
    assert error_code(res) == "RESOURCE_DOES_NOT_EXIST"
    assert "churn" not in res.content.decode()
    if path.startswith("models/churn"):  # their own tenant's URL: the model is not there
        res = _call(client, method, path, body, run, prefix="/t/globex/api/v1")
        assert res.status_code == 404, res.content
        assert error_code(res) == "RESOURCE_DOES_NOT_EXIST"


def test_another_tenants_list_does_not_show_our_models(churn, outsider, other_tenant):
    res = client_for(issue(outsider, other_tenant)).get("/t/globex/api/v1/models/")
    assert res.status_code == 200
    assert res.json()["results"] == []


@pytest.mark.parametrize("method,path,body", READS)
def test_a_viewer_can_read(churn, viewer, tenant, method, path, body):
    assert getattr(client_for(issue(viewer, tenant)), method)(f"{BASE}/{path}").status_code == 200


@pytest.mark.parametrize("method,path,body", WRITES + [("post", "models/", {"name": "z"})])
def test_a_viewer_gets_403_on_every_write(churn, run, viewer, tenant, method, path, body):
    res = _call(client_for(issue(viewer, tenant)), method, path, body, run)
    assert res.status_code == 403, res.content
    assert error_code(res) == "PERMISSION_DENIED"


@pytest.mark.parametrize("method,path,body", WRITES)
def test_a_member_without_a_grant_gets_403_on_every_write(churn, run, teammate, tenant, method, path, body):
    res = _call(client_for(issue(teammate, tenant)), method, path, body, run)
    assert res.status_code == 403, res.content


@pytest.mark.parametrize(
    "method,path,body",
    [
        ("get", "models/nope", None),
        ("patch", "models/nope", {"description": "x"}),
        ("get", "models/nope/permissions", None),
        ("get", "models/nope/versions/", None),
        ("get", "models/churn/versions/99", None),
        ("patch", "models/churn/versions/99", {"description": "x"}),
        ("post", "models/churn/versions/99/stage", {"stage": "Staging"}),
        ("put", "models/churn/versions/99/tags/k", {"value": "v"}),
        ("get", "models/churn/aliases/nope", None),
        ("get", "models/nope/resolve?version=1", None),
    ],
)
def test_unknown_objects_give_404(owner_api, churn, run, method, path, body):
    res = _call(owner_api, method, path, body, run)
    assert res.status_code == 404, res.content
    assert error_code(res) == "RESOURCE_DOES_NOT_EXIST"


def test_an_anonymous_caller_is_unauthenticated(churn):
    res = client_for(None).get(f"{BASE}/models/churn")
    assert res.status_code == 401
    assert error_code(res) == "UNAUTHENTICATED"


def test_re_applying_an_ownership_tag_with_its_value_needs_only_edit(owner, tenant, churn):
    """Training scripts re-apply their tags every run with tokens lacking the admin scope."""
    api = client_for(issue(owner, tenant, ["read", "write"]))
    url = f"{BASE}/models/churn/tags/owner_team"
    res = api.put(url, {"value": "alpha"}, format="json")
    assert res.status_code in (200, 204), res.content
    res = api.put(url, {"value": "beta"}, format="json")
    assert res.status_code == 403 and error_code(res) == "PERMISSION_DENIED"
    assert RegisteredModel.objects.get(tenant=tenant, name="churn").owner_team.slug == "alpha"
