"""`Idempotency-Key` on the native creates: the same key and body → one object and the first answer again; the
same key with another body → 422 IDEMPOTENCY_KEY_REUSED; a retry after a failure past the commit (a database blip
while answering) gets the object that was created, not a second one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connections

from registry.api.views import versions as api_views
from registry.idempotency import IdempotencyKey
from registry.models import ModelVersion, RegisteredModel
from tests.helpers import client_for, issue, make_run_in_new_experiment

BASE = "/t/acme/api/v1"
VERSIONS = f"{BASE}/models/churn/versions/"


@pytest.fixture
def owner_secret(owner, tenant):
    return issue(owner, tenant)


@pytest.fixture
def owner_api(owner_secret):
    client = client_for(owner_secret)
    assert client.post(f"{BASE}/models/", {"name": "churn"}, format="json").status_code == 201
    return client


def post(client, path, body, key):
    return client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_the_same_key_twice_creates_one_version_and_answers_the_first_result_again(owner_api, tenant):
    body = {"source": f"runs:/{make_run_in_new_experiment(tenant).run_id}/model"}
    first = post(owner_api, VERSIONS, body, "k-1")
    again = post(owner_api, VERSIONS, body, "k-1")
    assert first.status_code == again.status_code == 201, (first.content, again.content)
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert ModelVersion.objects.filter(model__name="churn").count() == 1
    # Without a key (or with a new one) a create is a create.
    assert post(owner_api, VERSIONS, body, "k-2").json()["version"] == 2
    assert owner_api.post(VERSIONS, body, format="json").json()["version"] == 3


@pytest.mark.django_db
def test_the_same_key_with_a_different_body_is_refused(owner_api, tenant):
    run = make_run_in_new_experiment(tenant)
    assert post(owner_api, VERSIONS, {"source": f"runs:/{run.run_id}/model"}, "k-1").status_code == 201
    res = post(owner_api, VERSIONS, {"source": f"runs:/{run.run_id}/model", "description": "other"}, "k-1")
    assert res.status_code == 422, res.content
    assert res.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    # Another endpoint with the same key is a different request too.
    res = post(owner_api, f"{BASE}/models/", {"name": "other"}, "k-1")
    assert res.status_code == 422 and res.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    assert ModelVersion.objects.count() == 1 and not RegisteredModel.objects.filter(name="other").exists()


@pytest.mark.django_db
def test_a_model_create_retried_with_its_key_answers_201_not_already_exists(owner_secret):
    client = client_for(owner_secret)
    first = post(client, f"{BASE}/models/", {"name": "fraud"}, "m-1")
    again = post(client, f"{BASE}/models/", {"name": "fraud"}, "m-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert RegisteredModel.objects.filter(name="fraud").count() == 1
    assert client.post(f"{BASE}/models/", {"name": "fraud"}, format="json").status_code == 409


@pytest.mark.django_db
def test_a_retry_after_a_database_blip_past_the_commit_gets_the_created_version(
    owner_api, tenant, monkeypatch
):
    body = {"source": f"runs:/{make_run_in_new_experiment(tenant).run_id}/model"}
    original = api_views._version_response
    blips = []

    def blip_once(*args, **kwargs):
        if not blips:
            blips.append(1)
            raise OperationalError("server closed the connection unexpectedly")
        return original(*args, **kwargs)

    monkeypatch.setattr(api_views, "_version_response", blip_once)
    failed = post(owner_api, VERSIONS, body, "k-blip")
    assert failed.status_code == 503 and failed["Retry-After"]
    retried = post(owner_api, VERSIONS, body, "k-blip")
    assert retried.status_code == 201, retried.content
    assert retried.json()["version"] == 1 and retried["Idempotent-Replayed"] == "true"
    assert retried["Location"].endswith(f"{BASE}/models/churn/versions/1")
    assert ModelVersion.objects.filter(model__name="churn").count() == 1


@pytest.mark.django_db
def test_a_refused_create_stores_nothing_so_the_key_works_once_allowed(owner_api, viewer, tenant):
    body = {"source": f"runs:/{make_run_in_new_experiment(tenant).run_id}/model"}
    res = post(client_for(issue(viewer, tenant)), VERSIONS, body, "k-v")
    assert res.status_code == 403
    assert not IdempotencyKey.objects.exists()
    assert post(owner_api, VERSIONS, body, "k-v").status_code == 201


@pytest.mark.django_db
def test_keys_are_per_tenant_and_another_tenant_is_refused_as_always(
    owner_api, tenant, outsider, other_tenant
):
    body = {"source": f"runs:/{make_run_in_new_experiment(tenant).run_id}/model"}
    assert post(owner_api, VERSIONS, body, "shared").status_code == 201
    theirs = client_for(issue(outsider, other_tenant))
    # The outsider reuses the key against acme: a 404 like any other request there, never acme's stored answer.
    res = post(theirs, VERSIONS, body, "shared")
    assert res.status_code == 404 and "Idempotent-Replayed" not in res
    # In their own tenant the same key is theirs to use.
    assert post(theirs, "/t/globex/api/v1/models/", {"name": "churn"}, "shared").status_code == 201


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "naïve"])
def test_a_malformed_key_is_a_400(owner_api, tenant, key):
    body = {"source": f"runs:/{make_run_in_new_experiment(tenant).run_id}/model"}
    res = post(owner_api, VERSIONS, body, key)
    assert res.status_code == 400 and res.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert not ModelVersion.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_version(owner_secret, tenant):
    client = client_for(owner_secret)
    assert client.post(f"{BASE}/models/", {"name": "churn"}, format="json").status_code == 201
    body = {"source": f"runs:/{make_run_in_new_experiment(tenant).run_id}/model"}

    def create(_):
        try:
            return post(client_for(owner_secret), VERSIONS, body, "race")
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(create, range(4)))
    assert [r.status_code for r in results] == [201] * 4, [r.content for r in results]
    assert {r.json()["version"] for r in results} == {1}
    assert ModelVersion.objects.filter(model__name="churn").count() == 1


@pytest.mark.django_db
def test_an_expired_key_is_purged_and_may_be_used_afresh(owner_api, tenant):
    from django.utils import timezone

    from registry.tasks import purge_idempotency_keys

    body = {"source": f"runs:/{make_run_in_new_experiment(tenant).run_id}/model"}
    assert post(owner_api, VERSIONS, body, "old").status_code == 201
    assert purge_idempotency_keys() == 0  # not expired yet
    IdempotencyKey.objects.update(expires_at=timezone.now())
    again = post(owner_api, VERSIONS, body, "old")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert again.json()["version"] == 2
    IdempotencyKey.objects.update(expires_at=timezone.now())
    assert purge_idempotency_keys() == 1 and not IdempotencyKey.objects.exists()
