"""The serving read cache (`registry.readcache`): hits cost no query beyond authentication, a committed change is
seen by every later read (also while other clients keep reading), permissions still apply to cached answers,
and Redis being down only sends reads to the database. Every test commits (`transaction=True`): the cache is
bypassed inside an open transaction, and its invalidation runs on commit."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import readcache, services
from tests.helpers import client_for, issue, make_logged_model, principal

ALL_SCOPES = ["read", "write", "promote", "admin"]
MLFLOW = "/t/acme/api/2.0/mlflow/"
LATEST = MLFLOW + "registered-models/get-latest-versions"
ALIAS = MLFLOW + "registered-models/alias"
VERSION = MLFLOW + "model-versions/get"


def make_model(owner, tenant, versions: int = 2):
    """`churn`: v1 in Production with alias `champion`, v2.. READY in None."""
    p = principal(owner, tenant, ALL_SCOPES)
    model = services.registered_model_create(principal=p, name="churn")
    logged = make_logged_model(tenant)
    made = []
    for _ in range(versions):
        version = services.model_version_create(principal=p, model=model, source=f"models:/{logged.model_id}")
        services.registration_finalize(version_id=version.pk)
        version.refresh_from_db()
        made.append(version)
    services.model_version_transition_stage(principal=p, version=made[0], stage="Production")
    services.alias_set(principal=p, model=model, alias="champion", version=1)
    return model, made, p


def production_of(client) -> str:
    response = client.get(LATEST, {"name": "churn", "stages": "Production"})
    assert response.status_code == 200, response.content
    return response.json()["model_versions"][0]["version"]


@pytest.mark.django_db(transaction=True)
def test_a_cached_answer_costs_no_query_at_all(owner, tenant, teammate):
    make_model(owner, tenant)
    client = client_for(issue(teammate, tenant, ["read"]))
    for path, params in [
        (LATEST, {"name": "churn", "stages": "Production"}),
        (ALIAS, {"name": "churn", "alias": "champion"}),
        (VERSION, {"name": "churn", "version": "1"}),
    ]:
        # The first request learns which tenant the token is in, the second remembers its identity and the
        # answer (registry/fastpath.py); from then on no statement at all.
        first = client.get(path, params)
        client.get(path, params)
        with CaptureQueriesContext(connection) as ctx:
            third = client.get(path, params)
        assert third.content == first.content
        assert len(ctx.captured_queries) == 0, [q["sql"] for q in ctx.captured_queries]


@pytest.mark.django_db(transaction=True)
def test_every_change_is_seen_by_the_next_read(owner, tenant):
    model, (v1, v2), p = make_model(owner, tenant)
    client = client_for(issue(owner, tenant, ["read"]))
    assert production_of(client) == "1"
    assert client.get(ALIAS, {"name": "churn", "alias": "champion"}).json()["model_version"]["version"] == "1"
    services.model_version_transition_stage(
        principal=p, version=v2, stage="Production", archive_existing_versions=True
    )
    assert production_of(client) == "2"
    services.alias_set(principal=p, model=model, alias="champion", version=2)
    assert client.get(ALIAS, {"name": "churn", "alias": "champion"}).json()["model_version"]["version"] == "2"
    services.model_version_set_tag(principal=p, version=v2, key="k", value="v")
    body = client.get(VERSION, {"name": "churn", "version": "2"}).json()["model_version"]
    assert body["tags"] == [{"key": "k", "value": "v"}]
    services.registered_model_rename(principal=p, model=model, new_name="churn2")
    assert client.get(VERSION, {"name": "churn", "version": "2"}).status_code == 404
    assert client.get(ALIAS, {"name": "churn", "alias": "champion"}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_permissions_apply_to_cached_answers(owner, teammate, viewer, outsider, other_tenant, tenant):
    make_model(owner, tenant)
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    assert production_of(client_for(issue(owner, tenant, ["read"]))) == "1"  # now cached
    for client in (
        client_for(issue(teammate, tenant, ["read"])),
        client_for(issue(viewer, tenant, ["read"])),
    ):
        response = client.get(LATEST, {"name": "churn", "stages": "Production"})
        assert response.status_code == 404
        assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    outsider_client = client_for(issue(outsider, other_tenant))
    assert outsider_client.get(LATEST, {"name": "churn", "stages": "Production"}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_token_without_the_read_scope_is_refused_a_cached_answer(owner, tenant):
    make_model(owner, tenant)
    assert production_of(client_for(issue(owner, tenant, ["read"]))) == "1"
    client = client_for(issue(owner, tenant, ["write"]))
    assert client.get(LATEST, {"name": "churn", "stages": "Production"}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_reads_go_to_the_database_when_redis_is_down(owner, tenant):
    model, (v1, v2), p = make_model(owner, tenant)
    client = client_for(issue(owner, tenant, ["read"]))
    assert production_of(client) == "1"
    readcache.connect("redis://127.0.0.1:9/0")  # nothing listens on the discard port
    try:
        services.model_version_transition_stage(
            principal=p, version=v2, stage="Production", archive_existing_versions=True
        )
        assert production_of(client) == "2"
    finally:
        readcache.connect()
    # Redis is back: the bump that failed is retried before the cache is read, so the v1 entry is out of reach.
    assert production_of(client) == "2"
    assert production_of(client) == "2"


@pytest.mark.django_db(transaction=True)
def test_after_a_promotion_returns_every_later_read_sees_it_while_others_keep_reading(
    owner, tenant, teammate
):
    _model, (v1, v2), p = make_model(owner, tenant)
    secret = issue(teammate, tenant, ["read"])
    promoted = threading.Event()
    started = threading.Barrier(5)
    stale: list[str] = []
    seen: dict[str, int] = {"1": 0, "2": 0}
    errors: list[BaseException] = []

    def reader() -> None:
        client = client_for(secret)
        try:
            started.wait(timeout=30)
            after = 0
            while after < 25:
                was_promoted = promoted.is_set()
                version = production_of(client)
                seen[version] += 1
                if was_promoted:
                    after += 1
                    if version != "2":
                        stale.append(version)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    started.wait(timeout=30)
    for _ in range(5):  # let the readers fill the cache with v1
        assert production_of(client_for(secret)) == "1"
    services.model_version_transition_stage(
        principal=p, version=v2, stage="Production", archive_existing_versions=True
    )
    promoted.set()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert seen["1"] > 0 and seen["2"] >= 100
    assert stale == []
