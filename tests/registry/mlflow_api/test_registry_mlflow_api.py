"""The MLflow registry API over HTTP (DRF test client): isolation between tenants for every endpoint, read-only
callers refused every write, and the wire details the MLflow client relies on."""

from __future__ import annotations

import pytest

from registry import services
from registry.models import ModelAlias, ModelVersion, RegisteredModel
from tests.helpers import client_for, issue, make_logged_model, principal

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["read", "write", "promote", "admin"]
BASE = "/t/acme/api/2.0/mlflow/"


@pytest.fixture
def setup(owner, tenant):
    """Model `churn` owned by team alpha with a READY version 1 in Staging and alias `champion` → 1."""
    p = principal(owner, tenant, ALL_SCOPES)
    model = services.registered_model_create(principal=p, name="churn", tags={"t": "1"})
    logged = make_logged_model(tenant)
    version = services.model_version_create(principal=p, model=model, source=f"models:/{logged.model_id}")
    services.registration_finalize(version_id=version.pk)
    version.refresh_from_db()
    services.model_version_set_tag(principal=p, version=version, key="vt", value="1")
    services.model_version_transition_stage(principal=p, version=version, stage="Staging")
    services.alias_set(principal=p, model=model, alias="champion", version=1)
    return {"model": model, "logged": logged, "client": client_for(issue(owner, tenant, ALL_SCOPES))}


def call(client, method: str, path: str, data: dict | None = None, base: str = BASE, **extra):
    url = base + path
    if method == "GET":
        return client.get(url, data or {}, **extra)
    return getattr(client, method.lower())(url, data or {}, format="json", **extra)


READS = [
    ("GET", "registered-models/get", {"name": "churn"}),
    ("POST", "registered-models/get-latest-versions", {"name": "churn"}),
    ("GET", "registered-models/get-latest-versions", {"name": "churn"}),
    ("GET", "registered-models/alias", {"name": "churn", "alias": "champion"}),
    ("GET", "model-versions/get", {"name": "churn", "version": "1"}),
    ("GET", "model-versions/get-download-uri", {"name": "churn", "version": "1"}),
]
SEARCHES = [
    ("GET", "registered-models/search", {"filter": "name = 'churn'"}),
    ("GET", "model-versions/search", {"filter": "name = 'churn'"}),
]


def writes(source: str) -> list[tuple[str, str, dict]]:
    return [
        ("PATCH", "registered-models/update", {"name": "churn", "description": "x"}),
        ("POST", "registered-models/rename", {"name": "churn", "new_name": "stolen"}),
        ("POST", "registered-models/set-tag", {"name": "churn", "key": "k", "value": "v"}),
        ("DELETE", "registered-models/delete-tag", {"name": "churn", "key": "t"}),
        ("POST", "registered-models/alias", {"name": "churn", "alias": "champion", "version": "1"}),
        ("POST", "registered-models/alias", {"name": "churn", "alias": "candidate", "version": "1"}),
        ("DELETE", "registered-models/alias", {"name": "churn", "alias": "champion"}),
        ("POST", "model-versions/create", {"name": "churn", "source": source}),
        ("PATCH", "model-versions/update", {"name": "churn", "version": "1", "description": "x"}),
        (
            "POST",
            "model-versions/transition-stage",
            {"name": "churn", "version": "1", "stage": "Production", "archive_existing_versions": False},
        ),
        (
            "POST",
            "model-versions/transition-stage",
            {"name": "churn", "version": "1", "stage": "Archived", "archive_existing_versions": False},
        ),
        ("POST", "model-versions/set-tag", {"name": "churn", "version": "1", "key": "k", "value": "v"}),
        ("DELETE", "model-versions/delete-tag", {"name": "churn", "version": "1", "key": "vt"}),
        ("DELETE", "model-versions/delete", {"name": "churn", "version": "1"}),
        ("DELETE", "registered-models/delete", {"name": "churn"}),
    ]


def assert_untouched(setup):
    model = RegisteredModel.objects.get(pk=setup["model"].pk)
    assert model.name == "churn" and model.description == ""
    version = ModelVersion.objects.get(model=model, version=1)
    assert version.stage == "Staging" and version.description == ""
    assert ModelVersion.objects.filter(model=model).count() == 1
    assert list(ModelAlias.objects.filter(model=model).values_list("alias", "version__version")) == [
        ("champion", 1)
    ]
    assert set(model.tags.values_list("key", flat=True)) == {"t", "owner_team"}
    assert list(version.tags.values_list("key", flat=True)) == ["vt"]


def test_every_endpoint_answers_another_tenant_with_a_404(setup, outsider, other_tenant):
    client = client_for(issue(outsider, other_tenant, ALL_SCOPES))
    source = f"models:/{setup['logged'].model_id}"
    for method, path, data in READS + writes(source):
        # Their own tenant's URL: the model does not exist there.
        res = call(client, method, path, data, base="/t/globex/api/2.0/mlflow/")
        assert res.status_code == 404, (method, path, res.content)
        assert res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST", (method, path)
        # Our tenant's URL, by prefix and by workspace header: the tenant itself is not theirs.
        res = call(client, method, path, data)
        assert res.status_code == 404, (method, path, res.content)
        res = call(client, method, path, data, base="/api/2.0/mlflow/", HTTP_X_MLFLOW_WORKSPACE="acme")
        assert res.status_code == 404, (method, path, res.content)
    for method, path, data in SEARCHES:
        res = call(client, method, path, data, base="/t/globex/api/2.0/mlflow/")
        assert res.status_code == 200 and res.json() == {}, (path, res.content)
    assert_untouched(setup)


def test_another_tenant_cannot_register_our_logged_model(setup, outsider, other_tenant):
    client = client_for(issue(outsider, other_tenant, ALL_SCOPES))
    base = "/t/globex/api/2.0/mlflow/"
    assert call(client, "POST", "registered-models/create", {"name": "churn"}, base=base).status_code == 200
    res = call(
        client,
        "POST",
        "model-versions/create",
        {"name": "churn", "source": f"models:/{setup['logged'].model_id}"},
        base=base,
    )
    assert res.status_code == 400 and res.json()["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize("who", ["viewer", "teammate", "read_only_token"])
def test_read_only_callers_are_refused_every_write(setup, who, viewer, teammate, owner, tenant):
    secret = {
        "viewer": lambda: issue(viewer, tenant),
        "teammate": lambda: issue(teammate, tenant, ALL_SCOPES),  # reads by the tenant default, no grant
        "read_only_token": lambda: issue(owner, tenant, ["read"]),
    }[who]()
    client = client_for(secret)
    for method, path, data in READS + SEARCHES:
        assert call(client, method, path, data).status_code == 200, (method, path)
    for method, path, data in writes(f"models:/{setup['logged'].model_id}"):
        res = call(client, method, path, data)
        assert res.status_code == 403, (method, path, res.content)
        assert res.json()["error_code"] == "PERMISSION_DENIED"
    if who != "teammate":  # a member may create models of their own; viewers and read-only tokens may not
        res = call(client, "POST", "registered-models/create", {"name": "new"})
        assert res.status_code == 403
    assert_untouched(setup)


def test_a_read_grant_does_not_allow_writes_when_members_cannot_read_all(setup, teammate, owner, tenant):
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    client = client_for(issue(teammate, tenant, ALL_SCOPES))
    assert call(client, "GET", "registered-models/get", {"name": "churn"}).status_code == 404
    services.registered_model_set_grants(
        principal=principal(owner, tenant, ALL_SCOPES),
        model=setup["model"],
        grants=[{"user": "tom", "level": "read"}],
    )
    assert call(client, "GET", "registered-models/get", {"name": "churn"}).status_code == 200
    res = call(client, "POST", "registered-models/set-tag", {"name": "churn", "key": "k", "value": "v"})
    assert res.status_code == 403


def test_model_json_has_mlflows_shape(setup):
    res = call(setup["client"], "GET", "registered-models/get", {"name": "churn"})
    body = res.json()["registered_model"]
    assert body["name"] == "churn"
    assert isinstance(body["creation_timestamp"], int)
    assert body["aliases"] == [{"alias": "champion", "version": "1"}]
    assert body["tags"] == [{"key": "owner_team", "value": "alpha"}, {"key": "t", "value": "1"}]
    (latest,) = body["latest_versions"]
    assert latest["version"] == "1" and latest["current_stage"] == "Staging" and "aliases" not in latest
    mv = call(setup["client"], "GET", "model-versions/get", {"name": "churn", "version": "1"}).json()
    assert mv["model_version"]["aliases"] == ["champion"]
    assert mv["model_version"]["status"] == "READY"
    assert mv["model_version"]["run_id"] == setup["logged"].source_run.run_id


def test_stage_names_are_case_insensitive_and_unknown_ones_are_400(setup):
    c = setup["client"]
    res = call(
        c,
        "POST",
        "model-versions/transition-stage",
        {"name": "churn", "version": "1", "stage": "production", "archive_existing_versions": True},
    )
    assert res.status_code == 200 and res.json()["model_version"]["current_stage"] == "Production"
    res = call(
        c, "POST", "registered-models/get-latest-versions", {"name": "churn", "stages": ["PRODUCTION"]}
    )
    assert [v["version"] for v in res.json()["model_versions"]] == ["1"]
    res = call(c, "GET", "registered-models/get-latest-versions", {"name": "churn", "stages": ["staging"]})
    assert res.status_code == 200 and res.json() == {}
    res = call(
        c,
        "POST",
        "model-versions/transition-stage",
        {"name": "churn", "version": "1", "stage": "Prod", "archive_existing_versions": False},
    )
    assert res.status_code == 400 and "Invalid Model Version stage: Prod" in res.json()["message"]
    res = call(
        c,
        "POST",
        "model-versions/transition-stage",
        {"name": "churn", "version": "1", "stage": "None", "archive_existing_versions": True},
    )
    assert res.status_code == 400 and res.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_unknown_alias_is_mlflows_400_and_missing_things_are_404(setup):
    c = setup["client"]
    res = call(c, "GET", "registered-models/alias", {"name": "churn", "alias": "nope"})
    assert res.status_code == 400
    assert res.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Registered model alias nope not found.",
    }
    res = call(c, "GET", "registered-models/get", {"name": "nope"})
    assert res.status_code == 404
    assert res.json()["message"] == "Registered Model with name=nope not found"
    res = call(c, "GET", "model-versions/get", {"name": "churn", "version": "9"})
    assert res.status_code == 404
    assert res.json()["message"] == "Model Version (name=churn, version=9) not found"
    res = call(c, "POST", "registered-models/alias", {"name": "churn", "alias": "latest", "version": "1"})
    assert res.status_code == 400
    res = call(c, "POST", "registered-models/alias", {"name": "churn", "alias": "x", "version": "9"})
    assert res.status_code == 404
    res = call(c, "GET", "model-versions/get", {"name": "churn", "version": "one"})
    assert res.status_code == 400


def test_a_stale_precondition_is_mlflows_resource_conflict(setup, owner, tenant):
    """The MLflow client reads codes outside its ErrorCode enum as INTERNAL_ERROR; a conflict must keep its kind."""
    p = principal(owner, tenant, ALL_SCOPES)
    services.model_version_create(
        principal=p, model=setup["model"], source=f"models:/{setup['logged'].model_id}"
    )
    res = call(
        setup["client"], "POST", "registered-models/alias", {"name": "churn", "alias": "next", "version": "2"}
    )
    assert res.status_code == 409
    assert res.json()["error_code"] == "RESOURCE_CONFLICT"
    assert "only READY versions can carry an alias" in res.json()["message"]
    assert not ModelAlias.objects.filter(alias="next").exists()


def test_search_pages_with_tokens_and_excludes_prompts(setup, owner, tenant):
    p = principal(owner, tenant, ALL_SCOPES)
    for i in range(3):
        services.registered_model_create(principal=p, name=f"m{i}")
    services.registered_model_create(principal=p, name="prompt", tags={"mlflow.prompt.is_prompt": "true"})
    names, token = [], None
    while True:
        params = {"filter": "tag.`mlflow.prompt.is_prompt` != 'true'", "max_results": 2}
        if token:
            params["page_token"] = token
        body = call(setup["client"], "GET", "registered-models/search", params).json()
        names += [m["name"] for m in body.get("registered_models", [])]
        token = body.get("next_page_token")
        if not token:
            break
    assert names == ["churn", "m0", "m1", "m2"]
    res = call(setup["client"], "GET", "registered-models/search", {"max_results": 1001})
    assert res.status_code == 400
    res = call(setup["client"], "GET", "registered-models/search", {"page_token": "garbage!"})
    assert res.status_code == 400
    res = call(setup["client"], "GET", "registered-models/search", {"filter": "name = 'a' OR name = 'b'"})
    assert res.status_code == 400


def test_version_search_by_tag_and_run_id(setup):
    run_id = setup["logged"].source_run.run_id
    body = call(setup["client"], "GET", "model-versions/search", {"filter": f"run_id = '{run_id}'"}).json()
    assert [v["version"] for v in body["model_versions"]] == ["1"]
    body = call(setup["client"], "GET", "model-versions/search", {"filter": "tags.vt = '1'"}).json()
    assert [v["version"] for v in body["model_versions"]] == ["1"]
    body = call(setup["client"], "GET", "model-versions/search", {"filter": "tags.vt = '2'"}).json()
    assert body == {}


def test_download_uri_points_at_the_immutable_snapshot(setup):
    body = call(
        setup["client"], "GET", "model-versions/get-download-uri", {"name": "churn", "version": "1"}
    ).json()
    assert body == {"artifact_uri": f"mlflow-artifacts:/_registry/{setup['model'].pk}/1"}


def test_a_protected_alias_needs_the_promote_scope(setup, owner, tenant):
    client = client_for(issue(owner, tenant, ["read", "write"]))
    res = call(
        client, "POST", "registered-models/alias", {"name": "churn", "alias": "champion", "version": "1"}
    )
    assert res.status_code == 403
    res = call(
        client, "POST", "registered-models/alias", {"name": "churn", "alias": "candidate", "version": "1"}
    )
    assert res.status_code == 200
