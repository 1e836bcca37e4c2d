"""The native registry API (`/t/<tenant>/api/v1/models/…`): every endpoint's success path and its refusals —
another tenant gets 404 and never data, a viewer gets 403 on writes, unknown objects 404, bad input 400
INVALID_PARAMETER_VALUE, stale preconditions 409 CONFLICT."""

from __future__ import annotations

import time
from typing import Any

import pytest

from config.errors import Conflict
from registry import services as registry_services
from registry.models import ModelVersion, RegisteredModel, VersionStatus
from registry.tracking.models import Run
from tests.helpers import client_for, issue, principal_of
from tests.helpers import make_run_in_new_experiment as make_run

ALL_SCOPES = ["read", "write", "promote", "admin"]
BASE = "/t/acme/api/v1"


# --- helpers -------------------------------------------------------------------------------------------------------


def register_ready(client, name: str, run: Run, **extra) -> dict:
    """Create a version through the API, then run the worker's registration service synchronously."""
    res = client.post(
        f"{BASE}/models/{name}/versions/", {"source": f"runs:/{run.run_id}/model", **extra}, format="json"
    )
    assert res.status_code == 201, res.content
    version = ModelVersion.objects.get(
        model__name=name, model__tenant__slug="acme", version=res.json()["version"]
    )
    assert registry_services.registration_finalize(version_id=version.pk) == VersionStatus.READY
    return client.get(f"{BASE}/models/{name}/versions/{version.version}").json()


def error_code(res) -> str:
    return res.json().get("error_code")


# --- fixtures ------------------------------------------------------------------------------------------------------


@pytest.fixture
def owner_api(owner, tenant):
    return client_for(issue(owner, tenant, ALL_SCOPES))


@pytest.fixture
def run(tenant):
    return make_run(tenant)


@pytest.fixture
def churn(owner, tenant, run):
    """Model `churn` owned by team alpha: v1 Production with alias champion, v2 Staging, v3 None; tag `domain`.
    Built through the services (the HTTP paths are what the tests below exercise)."""
    make_churn(owner, tenant, run)
    return "churn"


def make_churn(user, tenant, run, name: str = "churn"):
    principal = principal_of(user, tenant)
    model = registry_services.registered_model_create(
        principal=principal, name=name, description="Churn", tags={"domain": "crm"}
    )
    versions = []
    for _ in range(3):
        version = registry_services.model_version_create(
            principal=principal, model=model, source=f"runs:/{run.run_id}/model"
        )
        assert registry_services.registration_finalize(version_id=version.pk) == VersionStatus.READY
        versions.append(version)
    registry_services.model_version_transition_stage(
        principal=principal, version=versions[0], stage="Production"
    )
    registry_services.model_version_transition_stage(
        principal=principal, version=versions[1], stage="Staging"
    )
    registry_services.alias_set(principal=principal, model=model, alias="champion", version=1)
    return model


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The shared fixtures give users passwords; PBKDF2 at full strength costs half a second per test.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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


# --- versions ------------------------------------------------------------------------------------------------------


def test_a_new_version_is_pending_until_registration_then_ready_with_a_manifest(owner_api, churn, run):
    res = owner_api.post(
        f"{BASE}/models/churn/versions/",
        {"source": f"runs:/{run.run_id}/model", "description": "v4", "tags": {"k": "v"}},
        format="json",
    )
    assert res.status_code == 201, res.content
    body = res.json()
    assert body["version"] == 4
    assert body["status"] == "PENDING_REGISTRATION"
    assert body["run_id"] == run.run_id
    assert body["tags"] == {"k": "v"}
    assert res["Location"].endswith("/models/churn/versions/4")
    registry_services.registration_finalize(
        version_id=ModelVersion.objects.get(model__name="churn", version=4).pk
    )
    body = owner_api.get(f"{BASE}/models/churn/versions/4").json()
    assert body["status"] == "READY"
    assert len(body["manifest_sha256"]) == 64


@pytest.mark.django_db(transaction=True)
def test_a_version_becomes_ready_through_the_worker(worker, owner, tenant):
    api = client_for(issue(owner, tenant, ALL_SCOPES))
    run = make_run(tenant)
    assert api.post(f"{BASE}/models/", {"name": "worked"}, format="json").status_code == 201
    res = api.post(f"{BASE}/models/worked/versions/", {"source": f"runs:/{run.run_id}/model"}, format="json")
    assert res.status_code == 201, res.content
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = api.get(f"{BASE}/models/worked/versions/1").json()
        if body["status"] != "PENDING_REGISTRATION":
            break
        time.sleep(0.1)
    assert body["status"] == "READY", worker.logs()[-3000:]
    assert api.get(f"{BASE}/models/worked/resolve?version=1").json()["status"] == "READY"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"source": ""},
        {"source": "s3://elsewhere/model"},
        {"source": "runs:/nope/model"},
        {"source": "runs:/{run}/../../x"},
    ],
)
def test_it_rejects_bad_version_sources(owner_api, churn, run, body):
    body = {k: v.replace("{run}", run.run_id) for k, v in body.items()}
    res = owner_api.post(f"{BASE}/models/churn/versions/", body, format="json")
    assert res.status_code == 400, res.content
    assert error_code(res) == "INVALID_PARAMETER_VALUE"


def test_it_lists_versions_newest_first_with_filters(owner_api, churn):
    res = owner_api.get(f"{BASE}/models/churn/versions/")
    assert res.status_code == 200
    assert [v["version"] for v in res.json()["results"]] == [3, 2, 1]
    assert [
        v["version"] for v in owner_api.get(f"{BASE}/models/churn/versions/?stage=staging").json()["results"]
    ] == [2]
    assert error_code(owner_api.get(f"{BASE}/models/churn/versions/?stage=nope")) == "INVALID_PARAMETER_VALUE"


def test_a_version_get_carries_an_etag(owner_api, churn):
    res = owner_api.get(f"{BASE}/models/churn/versions/1")
    assert res.status_code == 200
    body = res.json()
    assert body["stage"] == "Production" and body["aliases"] == ["champion"]
    assert res["ETag"] == f'"1:Production:{body["last_updated_timestamp"]}"' == body["etag"]


def test_it_updates_tags_and_deletes_versions(owner_api, churn):
    res = owner_api.patch(f"{BASE}/models/churn/versions/3", {"description": "better"}, format="json")
    assert res.status_code == 200 and res.json()["description"] == "better"
    assert (
        owner_api.put(f"{BASE}/models/churn/versions/3/tags/q", {"value": "1"}, format="json").status_code
        == 200
    )
    assert owner_api.get(f"{BASE}/models/churn/versions/3").json()["tags"] == {"q": "1"}
    assert owner_api.delete(f"{BASE}/models/churn/versions/3/tags/q").status_code == 204
    assert owner_api.delete(f"{BASE}/models/churn/versions/3/tags/q").status_code == 404
    assert owner_api.delete(f"{BASE}/models/churn/versions/3").status_code == 204
    assert owner_api.get(f"{BASE}/models/churn/versions/3").status_code == 404


# --- stages --------------------------------------------------------------------------------------------------------


def test_promotion_with_archive_leaves_one_production_version(owner_api, churn):
    res = owner_api.post(
        f"{BASE}/models/churn/versions/2/stage",
        {"stage": "production", "archive_existing_versions": True, "comment": "better auc"},
        format="json",
    )
    assert res.status_code == 200, res.content
    assert res.json()["stage"] == "Production"
    assert owner_api.get(f"{BASE}/models/churn/versions/1").json()["stage"] == "Archived"


def test_a_stale_expected_stage_is_a_conflict(owner_api, churn):
    res = owner_api.post(
        f"{BASE}/models/churn/versions/2/stage",
        {"stage": "Production", "expected_stage": "None"},
        format="json",
    )
    assert res.status_code == 409
    assert error_code(res) == "CONFLICT"
    assert owner_api.get(f"{BASE}/models/churn/versions/2").json()["stage"] == "Staging"
    res = owner_api.post(
        f"{BASE}/models/churn/versions/2/stage",
        {"stage": "Production", "expected_stage": "Staging"},
        format="json",
    )
    assert res.status_code == 200


def test_if_match_with_the_etag_guards_the_transition(owner_api, churn):
    etag = owner_api.get(f"{BASE}/models/churn/versions/3")["ETag"]
    # Someone else changes the version after we read it: our ETag is stale.
    assert (
        owner_api.patch(f"{BASE}/models/churn/versions/3", {"description": "x"}, format="json").status_code
        == 200
    )
    time.sleep(0.002)
    res = owner_api.post(
        f"{BASE}/models/churn/versions/3/stage", {"stage": "Staging"}, format="json", HTTP_IF_MATCH=etag
    )
    assert res.status_code == 409 and error_code(res) == "CONFLICT"
    fresh = owner_api.get(f"{BASE}/models/churn/versions/3")["ETag"]
    res = owner_api.post(
        f"{BASE}/models/churn/versions/3/stage", {"stage": "Staging"}, format="json", HTTP_IF_MATCH=fresh
    )
    assert res.status_code == 200, res.content
    assert res["ETag"] != fresh


def test_if_match_with_a_stage_name_guards_the_transition(owner_api, churn):
    res = owner_api.post(
        f"{BASE}/models/churn/versions/3/stage",
        {"stage": "Staging"},
        format="json",
        HTTP_IF_MATCH='"Production"',
    )
    assert res.status_code == 409
    res = owner_api.post(
        f"{BASE}/models/churn/versions/3/stage", {"stage": "Staging"}, format="json", HTTP_IF_MATCH="None"
    )
    assert res.status_code == 200, res.content
    res = owner_api.post(
        f"{BASE}/models/churn/versions/3/stage", {"stage": "Archived"}, format="json", HTTP_IF_MATCH="garbage"
    )
    assert res.status_code == 400


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"stage": "Live"},
        {"stage": "Archived", "archive_existing_versions": True},
        {"stage": "Staging", "archive_existing_versions": "maybe"},
    ],
)
def test_it_rejects_bad_transitions(owner_api, churn, body):
    res = owner_api.post(f"{BASE}/models/churn/versions/3/stage", body, format="json")
    assert res.status_code == 400, res.content
    assert error_code(res) == "INVALID_PARAMETER_VALUE"


# --- aliases -------------------------------------------------------------------------------------------------------


def test_it_sets_gets_and_deletes_aliases(owner_api, churn):
    res = owner_api.put(f"{BASE}/models/churn/aliases/candidate", {"version": 3}, format="json")
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["alias"] == "candidate" and body["version"] == 3 and body["protected"] is False
    assert body["model_version"]["aliases"] == ["candidate"]
    res = owner_api.get(f"{BASE}/models/churn/aliases/champion")
    assert res.status_code == 200 and res.json()["version"] == 1 and res.json()["protected"] is True
    assert res["ETag"] == '"1"'
    assert owner_api.delete(f"{BASE}/models/churn/aliases/candidate").status_code == 204
    assert owner_api.get(f"{BASE}/models/churn/aliases/candidate").status_code == 404


def test_alias_moves_honour_expected_version(owner_api, churn):
    url = f"{BASE}/models/churn/aliases/champion"
    res = owner_api.put(url, {"version": 2, "expected_version": 3}, format="json")
    assert res.status_code == 409 and error_code(res) == "CONFLICT"
    res = owner_api.put(url, {"version": 2, "expected_version": ""}, format="json")  # must not exist yet
    assert res.status_code == 409
    assert owner_api.put(url, {"version": 2, "expected_version": 1}, format="json").status_code == 200
    res = owner_api.put(
        f"{BASE}/models/churn/aliases/fresh", {"version": 2, "expected_version": 0}, format="json"
    )
    assert res.status_code == 200
    assert owner_api.get(url).json()["version"] == 2


def test_alias_moves_honour_if_match_and_if_none_match(owner_api, churn):
    url = f"{BASE}/models/churn/aliases/champion"
    assert owner_api.put(url, {"version": 2}, format="json", HTTP_IF_MATCH='"3"').status_code == 409
    assert owner_api.put(url, {"version": 2}, format="json", HTTP_IF_NONE_MATCH="*").status_code == 409
    assert owner_api.delete(url, HTTP_IF_MATCH='"2"').status_code == 409
    assert owner_api.put(url, {"version": 2}, format="json", HTTP_IF_MATCH='"1"').status_code == 200
    assert owner_api.delete(url, HTTP_IF_MATCH='"2"').status_code == 204
    assert owner_api.put(url, {"version": 2}, format="json", HTTP_IF_MATCH="x").status_code == 400


@pytest.mark.parametrize(
    "alias,body,status",
    [
        ("latest", {"version": 1}, 400),
        ("v2", {"version": 1}, 400),
        ("bad alias!", {"version": 1}, 400),
        ("ok", {}, 400),
        ("ok", {"version": "x"}, 400),
        ("ok", {"version": 99}, 404),
        ("ok", {"version": 1, "expected_version": "abc"}, 400),
    ],
)
def test_it_rejects_bad_alias_moves(owner_api, churn, alias, body, status):
    res = owner_api.put(f"{BASE}/models/churn/aliases/{alias}", body, format="json")
    assert res.status_code == status, res.content


# --- resolve -------------------------------------------------------------------------------------------------------


def test_resolve_answers_the_contract_shape_by_alias_stage_and_version(owner_api, churn):
    by_alias = owner_api.get(f"{BASE}/models/churn/resolve?alias=champion")
    assert by_alias.status_code == 200, by_alias.content
    body = by_alias.json()
    assert {"name", "version", "stage", "aliases", "status", "download_uri", "manifest_sha256"} <= set(body)
    assert body["name"] == "churn" and str(body["version"]) == "1" and body["stage"] == "Production"
    assert (
        body["aliases"] == ["champion"] and body["status"] == "READY" and len(body["manifest_sha256"]) == 64
    )
    assert owner_api.get(f"{BASE}/models/churn/resolve?stage=production").json() == body
    assert owner_api.get(f"{BASE}/models/churn/resolve?version=1").json() == body
    assert str(owner_api.get(f"{BASE}/models/churn/resolve?stage=Staging").json()["version"]) == "2"


@pytest.mark.parametrize(
    "query,status",
    [
        ("", 400),
        ("alias=champion&stage=Production", 400),
        ("version=abc", 400),
        ("version=0", 400),
        ("stage=Live", 400),
        ("alias=nope", 404),
        ("version=99", 404),
        ("stage=Archived", 404),
    ],
)
def test_resolve_refuses_ambiguous_or_unknown_targets(owner_api, churn, query, status):
    res = owner_api.get(f"{BASE}/models/churn/resolve?{query}")
    assert res.status_code == status, res.content


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


def test_a_stale_etag_is_refused_under_the_lock_even_when_the_change_lands_after_the_read(
    owner, tenant, churn
):
    """The full ETag is compared by the service under the model's row lock: a change committed between the view's
    read and the service's lock is still a 409 (the view alone could not see it)."""
    model = RegisteredModel.objects.get(tenant=tenant, name="churn")
    version = model.versions.get(version=3)
    stale = version.last_updated_timestamp
    principal = principal_of(owner, tenant)
    registry_services.model_version_update(principal=principal, version=version, description="moved on")
    with pytest.raises(Conflict):
        registry_services.model_version_transition_stage(
            principal=principal, version=version, stage="Staging", expected_last_updated_timestamp=stale
        )
    version.refresh_from_db()
    assert version.stage == "None"
    registry_services.model_version_transition_stage(
        principal=principal,
        version=version,
        stage="Staging",
        expected_last_updated_timestamp=version.last_updated_timestamp,
    )


def test_re_applying_an_ownership_tag_with_its_value_needs_only_edit(owner, tenant, churn):
    """Training scripts re-apply their tags every run with tokens lacking the admin scope."""
    api = client_for(issue(owner, tenant, ["read", "write"]))
    url = f"{BASE}/models/churn/tags/owner_team"
    res = api.put(url, {"value": "alpha"}, format="json")
    assert res.status_code in (200, 204), res.content
    res = api.put(url, {"value": "beta"}, format="json")
    assert res.status_code == 403 and error_code(res) == "PERMISSION_DENIED"
    assert RegisteredModel.objects.get(tenant=tenant, name="churn").owner_team.slug == "alpha"
