"""The native registry API: versions and stage transitions, with their preconditions (stale → 409 CONFLICT)."""

from __future__ import annotations

import time

import pytest

from config.errors import Conflict
from registry import services as registry_services
from registry.models import ModelVersion, RegisteredModel
from tests.helpers import client_for, issue, principal_of
from tests.helpers import make_run_in_new_experiment as make_run

from .conftest import ALL_SCOPES, BASE, error_code

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
