"""`model-versions/search` is answered by one hand-written statement on PostgreSQL (registry/search/versions.py)
and `registered-models/get` from annotated rows: the answers must stay exactly MLflow's, the same as the ORM path
(kept for other databases) gives, and the filter grammar must keep its meaning."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from registry import latest, row_selectors, rows, services
from registry.models import ModelVersion, ModelVersionTag, RegisteredModelTag, Stage, VersionStatus
from tests.helpers import client_for, issue, make_logged_model, principal

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["read", "write", "promote", "admin"]
MLFLOW = "/t/acme/api/2.0/mlflow/"


@pytest.fixture
def models(owner, tenant):
    """`churn` (v1 Production @champion with tags, v2..v4 rows); `churn_2`, `a_b`, `axb` and `prompt` (a prompt) with
    a v1 whose source holds a backslash."""
    p = principal(owner, tenant, ALL_SCOPES)
    churn = services.registered_model_create(principal=p, name="churn", tags={"t": "1"})
    logged = make_logged_model(tenant)
    version = services.model_version_create(
        principal=p, model=churn, source=f"models:/{logged.model_id}", description="first"
    )
    services.registration_finalize(version_id=version.pk)
    version.refresh_from_db()
    services.model_version_set_tag(principal=p, version=version, key="z", value="last")
    services.model_version_set_tag(principal=p, version=version, key="k", value="v")
    services.model_version_transition_stage(principal=p, version=version, stage="Production")
    services.alias_set(principal=p, model=churn, alias="champion", version=1)
    ModelVersion.objects.filter(pk=version.pk).update(status_message="snapshotted", user_label="olivia")
    for n in (2, 3, 4):
        row = ModelVersion.objects.create(
            model=churn,
            version=n,
            status=VersionStatus.READY,
            stage=Stage.STAGING if n == 3 else Stage.NONE,
            source=f"s3://bucket/{n}",
            run_id=f"run{n}",
            creation_timestamp=n,
            last_updated_timestamp=n,
        )
        ModelVersionTag.objects.create(version=row, key="k", value="v" if n % 2 else "W")
    for name in ("churn_2", "a_b", "axb", "prompt"):
        other = services.registered_model_create(principal=p, name=name)
        ModelVersion.objects.create(
            model=other,
            version=1,
            status=VersionStatus.READY,
            source="s3://bucket/x\\y",
            creation_timestamp=1,
            last_updated_timestamp=1,
        )
        if name == "prompt":
            RegisteredModelTag.objects.create(model=other, key="mlflow.prompt.is_prompt", value="True")
    return churn


@pytest.fixture
def client(owner, tenant):
    return client_for(issue(owner, tenant, ["read"]))


def search(client, **params) -> dict:
    response = client.get(MLFLOW + "model-versions/search", params)
    assert response.status_code == 200, response.content
    return response.json()


def found(client, filter_string: str, **params) -> list[str]:
    body = search(client, filter=filter_string, **params)
    return [f"{v['name']}/{v['version']}" for v in body.get("model_versions", [])]


def test_a_search_row_is_the_versions_get_answer_without_aliases(models, client):
    got = client.get(MLFLOW + "model-versions/get", {"name": "churn", "version": "1"}).json()["model_version"]
    assert got.pop("aliases") == ["champion"]
    row = search(client, filter="name = 'churn' AND version_number = 1")["model_versions"]
    assert row == [got]
    assert list(row[0]) == list(got)  # the same keys in the same order: the same bytes
    assert got["tags"] == [{"key": "k", "value": "v"}, {"key": "z", "value": "last"}]
    assert got["status_message"] == "snapshotted" and got["user_id"] == "olivia"
    model = client.get(MLFLOW + "registered-models/get", {"name": "churn"}).json()["registered_model"]
    assert [v for v in model["latest_versions"] if v["version"] == "1"] == [got]


def test_the_filter_grammar_keeps_its_meaning(models, client):
    assert found(client, "name = 'churn'") == ["churn/4", "churn/3", "churn/2", "churn/1"]
    # Filter strings unquote `\\` to one backslash; in a LIKE pattern a backslash escapes the next character.
    assert found(client, "name LIKE 'churn_%'") == ["churn_2/1"]  # `_` is any one character
    assert found(client, "name LIKE 'a_b'") == ["a_b/1", "axb/1"]
    assert found(client, r"name LIKE 'a\\_b'") == ["a_b/1"]  # an escaped `_` is itself
    assert found(client, r"name LIKE 'churn\\'") == []  # a trailing backslash is a literal, not a 500
    assert found(client, "name ILIKE 'CHURN'") == ["churn/4", "churn/3", "churn/2", "churn/1"]
    assert found(client, "name ILIKE 'CH%2'") == ["churn_2/1"]
    assert found(client, "name IN ('a_b', 'churn_2')") == ["a_b/1", "churn_2/1"]
    assert found(client, "name NOT IN ('churn', 'axb') AND version_number >= 1") == ["a_b/1", "churn_2/1"]
    assert found(client, "name != 'churn'") == ["a_b/1", "axb/1", "churn_2/1"]  # never the prompt
    assert found(client, "tags.k = 'v'") == ["churn/3", "churn/1"]
    assert found(client, "tags.k != 'v'") == ["churn/4", "churn/2"]  # only versions that have the tag
    assert found(client, "tags.k ILIKE 'w'") == ["churn/4", "churn/2"]
    assert found(client, "tags.k LIKE '%'") == ["churn/4", "churn/3", "churn/2", "churn/1"]
    assert found(client, "run_id IN ('run2', 'run3')") == ["churn/3", "churn/2"]
    assert found(client, r"source_path LIKE '%x\\\\y'") == ["a_b/1", "axb/1", "churn_2/1"]
    assert found(client, r"source_path LIKE '%x\\y'") == []  # `\y` is just `y`
    assert found(client, "name = 'churn' AND version_number != 2 AND version_number < 4") == [
        "churn/3",
        "churn/1",
    ]
    assert found(client, "name = 'prompt'") == []


def test_order_and_pages_are_stable(models, client):
    ordered = found(client, "name = 'churn'", order_by=["version_number ASC"])
    assert ordered == ["churn/1", "churn/2", "churn/3", "churn/4"]
    first = search(client, filter="tags.k LIKE '%'", max_results=3)
    assert [v["version"] for v in first["model_versions"]] == ["4", "3", "2"]
    rest = search(client, filter="tags.k LIKE '%'", max_results=3, page_token=first["next_page_token"])
    assert [v["version"] for v in rest["model_versions"]] == ["1"] and "next_page_token" not in rest


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"filter": "name LIKE 'c%'", "order_by": ["last_updated_timestamp DESC"]},
        {"filter": "tags.k = 'v'", "max_results": "1"},
        {"filter": "name = 'churn'", "max_results": "2", "page_token": "eyJvZmZzZXQiOiAyfQ=="},
    ],
)
def test_the_single_statement_answers_exactly_as_the_orm_path(models, client, monkeypatch, params):
    fast = client.get(MLFLOW + "model-versions/search", params).content
    fast_model = client.get(MLFLOW + "registered-models/get", {"name": "churn"}).content
    other_database = SimpleNamespace(vendor="sqlite")
    monkeypatch.setattr(row_selectors, "connection", other_database)
    monkeypatch.setattr(latest, "connection", other_database)
    monkeypatch.setattr(rows, "connection", other_database)
    assert client.get(MLFLOW + "model-versions/search", params).content == fast
    assert client.get(MLFLOW + "registered-models/get", {"name": "churn"}).content == fast_model


def test_another_tenant_and_a_token_without_read_find_nothing(
    models, outsider, other_tenant, viewer, owner, tenant
):
    outsider_client = client_for(issue(outsider, other_tenant))
    response = outsider_client.get(
        "/t/globex/api/2.0/mlflow/model-versions/search", {"filter": "name='churn'"}
    )
    assert response.status_code == 200 and response.json() == {}
    assert found(client_for(issue(viewer, tenant, ["read"])), "name = 'churn'")  # a viewer reads
    found_rows, token = row_selectors.versions_search_rows(
        principal(owner, tenant, ["write"]), "name = 'churn'"
    )
    assert found_rows == [] and token is None
