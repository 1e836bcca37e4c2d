"""The hot read endpoints answer in a fixed, small number of SQL statements (no timing here: statement counts are
what a regression changes). Each budget counts the whole request: authentication and tenant resolution (one
statement), the permission check and the read. The first request of each token also writes `last_used_at`, so
every test warms its client up once before counting."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from registry import services
from registry.models import ModelAlias, ModelVersion, ModelVersionTag, Stage, VersionStatus
from tenants import services as tenant_services
from tests.helpers import client_for, issue, make_logged_model, make_run, principal

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["read", "write", "promote", "admin"]
MLFLOW = "/t/acme/api/2.0/mlflow/"
NATIVE = "/t/acme/api/v1/"


@pytest.fixture
def churn(owner, tenant):
    """Model `churn` owned by team alpha: v1 READY in Production with alias `champion` and a tag."""
    p = principal(owner, tenant, ALL_SCOPES)
    model = services.registered_model_create(principal=p, name="churn", tags={"t": "1"})
    logged = make_logged_model(tenant)
    version = services.model_version_create(principal=p, model=model, source=f"models:/{logged.model_id}")
    services.registration_finalize(version_id=version.pk)
    version.refresh_from_db()
    services.model_version_set_tag(principal=p, version=version, key="k", value="v")
    services.model_version_transition_stage(principal=p, version=version, stage="Production")
    services.alias_set(principal=p, model=model, alias="champion", version=1)
    return model


def add_versions(model, count: int) -> None:
    """`count` more versions after the existing ones, spread over the four stages (rows only: these tests read)."""
    start = ModelVersion.objects.filter(model=model).count() + 1
    stages = [Stage.NONE, Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED]
    ModelVersion.objects.bulk_create(
        ModelVersion(
            model=model,
            version=n,
            status=VersionStatus.READY,
            stage=stages[n % 4],
            source=f"s3://bucket/{n}",
            creation_timestamp=n,
            last_updated_timestamp=n,
        )
        for n in range(start, start + count)
    )


def warm(client, path: str, params: dict | None = None) -> None:
    assert client.get(path, params or {}).status_code == 200


def statements(client, method: str, path: str, params: dict | None = None) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        if method == "GET":
            response = client.get(path, params or {})
        else:
            response = client.post(path, params or {}, format="json")
    assert response.status_code == 200, response.content
    return [q["sql"] for q in ctx.captured_queries]


# (method, path, params, budget). MLflow's own server takes 2–6 statements for these.
SERVING_READS = [
    ("GET", MLFLOW + "model-versions/get", {"name": "churn", "version": "1"}, 4),
    ("GET", MLFLOW + "registered-models/alias", {"name": "churn", "alias": "champion"}, 4),
    ("GET", MLFLOW + "registered-models/get-latest-versions", {"name": "churn", "stages": "Production"}, 5),
    (
        "POST",
        MLFLOW + "registered-models/get-latest-versions",
        {"name": "churn", "stages": ["Production"]},
        5,
    ),
    # registered-models/get: the model with its tags, aliases and latest versions (with their tags) in one statement.
    ("GET", MLFLOW + "registered-models/get", {"name": "churn"}, 2),
    # model-versions/search: one statement for the page, its model names and tags (registry/search/versions.py).
    ("GET", MLFLOW + "model-versions/search", {"filter": "name='churn'"}, 2),
    ("GET", MLFLOW + "model-versions/search", {"filter": "tags.k='v'"}, 2),
    ("GET", MLFLOW + "registered-models/search", {"filter": "name='churn'"}, 6),
    ("GET", NATIVE + "models/churn/resolve", {"alias": "champion"}, 5),
    ("GET", NATIVE + "models/churn/resolve", {"stage": "Production"}, 4),
    ("GET", NATIVE + "models/churn/resolve", {"version": "1"}, 4),
    ("GET", NATIVE + "me", None, 2),  # + the team slugs it shows
    ("GET", "/api/v1/me", None, 2),
]


@pytest.mark.parametrize(("method", "path", "params", "budget"), SERVING_READS)
@pytest.mark.parametrize("who", ["owner", "teammate"])
def test_each_hot_read_stays_within_its_statement_budget(
    request, churn, tenant, who, method, path, params, budget
):
    user = request.getfixturevalue(who)
    client = client_for(issue(user, tenant, ["read"]))
    warm(client, NATIVE + "me")
    sql = statements(client, method, path, params)
    assert len(sql) <= budget, "\n".join(sql)


# The serving fast path (registry/fastpath.py) is off inside an open transaction: this budget needs commits.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("method", "path", "params", "_budget"), SERVING_READS[:4])
def test_a_warm_serving_read_costs_no_statement_at_all(
    churn, teammate, tenant, method, path, params, _budget
):
    client = client_for(issue(teammate, tenant, ["read"]))
    for _ in range(2):  # learn the token's tenant, then remember its identity and the answer
        statements(client, method, path, params)
    sql = statements(client, method, path, params)
    assert sql == [], "\n".join(sql)


def test_authentication_and_the_tenant_cost_one_statement(teammate, tenant):
    client = client_for(issue(teammate, tenant, ["read"]))
    warm(client, NATIVE + "me")
    sql = statements(client, "GET", NATIVE + "me")
    assert "accounts_apitoken" in sql[0]
    # The role and the team ids came with the token; the only other statement is the teams' slugs `me` shows.
    assert len(sql) == 2 and 'FROM "tenants_team"' in sql[1], "\n".join(sql)
    assert client.get(NATIVE + "me").json()["teams"] == ["beta"]


def test_a_member_outside_the_owning_team_reads_without_asking_for_grants(churn, teammate, tenant):
    client = client_for(issue(teammate, tenant, ["read"]))
    warm(client, NATIVE + "me")
    for path, params in [
        ("model-versions/get", {"name": "churn", "version": "1"}),
        ("registered-models/alias", {"name": "churn", "alias": "champion"}),
        ("registered-models/get-latest-versions", {"name": "churn", "stages": "Production"}),
    ]:
        sql = statements(client, "GET", MLFLOW + path, params)
        assert not [s for s in sql if "objectpermission" in s.lower()], "\n".join(sql)


def test_grants_still_decide_when_members_do_not_read_everything(churn, teammate, other_team, tenant, owner):
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    client = client_for(issue(teammate, tenant, ["read"]))
    params = {"name": "churn", "version": "1"}
    assert client.get(MLFLOW + "model-versions/get", params).status_code == 404
    services.registered_model_set_grants(
        principal=principal(owner, tenant, ALL_SCOPES),
        model=churn,
        grants=[{"team": "beta", "level": "read"}],
    )
    assert client.get(MLFLOW + "model-versions/get", params).status_code == 200


def test_getting_a_model_costs_the_same_statements_however_many_versions_it_has(churn, owner, tenant):
    client = client_for(issue(owner, tenant, ["read"]))
    warm(client, NATIVE + "me")
    few = statements(client, "GET", MLFLOW + "registered-models/get", {"name": "churn"})
    add_versions(churn, 400)
    many = statements(client, "GET", MLFLOW + "registered-models/get", {"name": "churn"})
    assert len(many) == len(few), "\n".join(many)
    body = client.get(MLFLOW + "registered-models/get", {"name": "churn"}).json()["registered_model"]
    # Versions 2..401 cycle None, Staging, Production, Archived by n % 4: the newest of each stage.
    latest = {v["current_stage"]: v["version"] for v in body["latest_versions"]}
    assert latest == {"Staging": "401", "Production": "398", "Archived": "399", "None": "400"}
    assert [v["version"] for v in body["latest_versions"]] == ["398", "399", "400", "401"]


def test_latest_versions_of_a_stage_skip_versions_that_are_not_ready(churn, owner, tenant):
    add_versions(churn, 8)  # v2..v9; Production gets v2 and v6 (n % 4 == 2)
    ModelVersion.objects.filter(model=churn, version=6).update(status=VersionStatus.PENDING_REGISTRATION)
    client = client_for(issue(owner, tenant, ["read"]))
    body = client.get(
        MLFLOW + "registered-models/get-latest-versions", {"name": "churn", "stages": "production"}
    ).json()
    assert [v["version"] for v in body["model_versions"]] == ["2"]
    resolved = client.get(NATIVE + "models/churn/resolve", {"stage": "Production"}).json()
    assert resolved["version"] == "2"
    # registered-models/get shows the newest per stage whatever its status, as MLflow does.
    model = client.get(MLFLOW + "registered-models/get", {"name": "churn"}).json()["registered_model"]
    assert {v["current_stage"]: v["version"] for v in model["latest_versions"]}["Production"] == "6"


def test_searching_registered_models_costs_the_same_statements_for_a_full_page(churn, owner, tenant):
    client = client_for(issue(owner, tenant, ["read"]))
    warm(client, NATIVE + "me")
    one = statements(client, "GET", MLFLOW + "registered-models/search", {})
    p = principal(owner, tenant, ALL_SCOPES)
    for n in range(5):
        model = services.registered_model_create(principal=p, name=f"m{n}")
        add_versions(model, 3)
    six = statements(client, "GET", MLFLOW + "registered-models/search", {})
    assert len(six) == len(one), "\n".join(six)


def tag_every_version(model) -> None:
    """Two tags on every version of the model that has none (rows only, as `add_versions`)."""
    versions = ModelVersion.objects.filter(model=model, tags__isnull=True)
    ModelVersionTag.objects.bulk_create(
        ModelVersionTag(version=v, key=key, value=f"{key}{v.version}") for v in versions for key in ("a", "k")
    )


def test_searching_versions_costs_two_statements_however_many_rows_it_finds(churn, owner, tenant):
    client = client_for(issue(owner, tenant, ["read"]))
    warm(client, NATIVE + "me")
    one = statements(client, "GET", MLFLOW + "model-versions/search", {"filter": "name='churn'"})
    add_versions(churn, 300)
    tag_every_version(churn)
    many = statements(client, "GET", MLFLOW + "model-versions/search", {"filter": "name='churn'"})
    assert len(one) == len(many) == 2, "\n".join(many)
    body = client.get(MLFLOW + "model-versions/search", {"filter": "name='churn'"}).json()
    assert len(body["model_versions"]) == 301
    # Every row carries its own tags (fetched in the same statement), sorted by key as MLflow sorts them.
    assert body["model_versions"][0]["tags"] == [{"key": "a", "value": "a301"}, {"key": "k", "value": "k301"}]
    by_tag = statements(client, "GET", MLFLOW + "model-versions/search", {"filter": "tags.a LIKE 'a1%'"})
    assert len(by_tag) == 2, "\n".join(by_tag)


def test_searching_versions_through_grants_costs_no_more_statements(
    churn, teammate, other_team, owner, tenant
):
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    client = client_for(issue(teammate, tenant, ["read"]))
    warm(client, NATIVE + "me")
    params = {"filter": "name='churn'"}
    assert client.get(MLFLOW + "model-versions/search", params).json() == {}  # no grant yet: nothing readable
    services.registered_model_set_grants(
        principal=principal(owner, tenant, ALL_SCOPES),
        model=churn,
        grants=[{"team": "beta", "level": "read"}],
    )
    add_versions(churn, 50)
    sql = statements(client, "GET", MLFLOW + "model-versions/search", params)
    assert len(sql) == 2, "\n".join(sql)
    assert len(client.get(MLFLOW + "model-versions/search", params).json()["model_versions"]) == 51


def test_getting_a_model_costs_the_same_statements_with_many_tags_aliases_and_stages(churn, owner, tenant):
    client = client_for(issue(owner, tenant, ["read"]))
    warm(client, NATIVE + "me")
    few = statements(client, "GET", MLFLOW + "registered-models/get", {"name": "churn"})
    add_versions(churn, 40)
    tag_every_version(churn)
    for number in (2, 3, 4):
        version = ModelVersion.objects.get(model=churn, version=number)
        ModelAlias.objects.create(model=churn, alias=f"a{number}", version=version)
    many = statements(client, "GET", MLFLOW + "registered-models/get", {"name": "churn"})
    assert len(many) == len(few) == 2, "\n".join(many)
    body = client.get(MLFLOW + "registered-models/get", {"name": "churn"}).json()["registered_model"]
    assert [a["alias"] for a in body["aliases"]] == ["a2", "a3", "a4", "champion"]
    assert all(v["tags"] for v in body["latest_versions"])


def test_searching_versions_without_max_results_answers_as_many_as_mlflows_server(churn, owner, tenant):
    add_versions(churn, 10_000)  # 10,001 versions: more than the 10,000 the Python client defaults to
    client = client_for(issue(owner, tenant, ["read"]))
    body = client.get(MLFLOW + "model-versions/search", {"filter": "name='churn'"}).json()
    assert len(body["model_versions"]) == 10_001
    assert "next_page_token" not in body


def test_runs_get_and_search_stay_within_their_budgets(owner, tenant):
    run = make_run(tenant)
    client = client_for(issue(owner, tenant, ["read"]))
    warm(client, NATIVE + "me")
    sql = statements(client, "GET", MLFLOW + "runs/get", {"run_id": run.run_id})
    assert len(sql) <= 8, "\n".join(sql)
    sql = statements(client, "POST", MLFLOW + "runs/search", {"experiment_ids": ["0"]})
    assert len(sql) <= 8, "\n".join(sql)


# --- nothing is cached: a change to the caller takes effect on the very next request ---------------------------


def test_a_revoked_token_is_refused_on_the_next_request(churn, teammate, tenant):
    token, secret = account_services.token_issue(user=teammate, tenant=tenant, scopes=["read"])
    client = client_for(secret)
    params = {"name": "churn", "alias": "champion"}
    assert client.get(MLFLOW + "registered-models/alias", params).status_code == 200
    account_services.token_revoke(token=token)
    response = client.get(MLFLOW + "registered-models/alias", params)
    assert response.status_code == 401
    assert response.json()["error_code"] == "UNAUTHENTICATED"


def test_a_demoted_member_and_a_suspended_tenant_take_effect_at_once(churn, teammate, tenant):
    client = client_for(issue(teammate, tenant, ALL_SCOPES))
    assert client.get(NATIVE + "me").json()["role"] == "member"
    tenant_services.membership_set(tenant=tenant, user=teammate, role="viewer")
    assert client.get(NATIVE + "me").json()["scopes"] == ["read"]
    tenant_services.tenant_set_status(tenant=tenant, status="suspended")
    assert client.get(MLFLOW + "model-versions/get", {"name": "churn", "version": "1"}).status_code == 403


def test_leaving_the_owning_team_takes_manage_away_at_once(churn, owner, team, tenant):
    client = client_for(issue(owner, tenant, ALL_SCOPES))
    assert client.get(NATIVE + "me").json()["teams"] == ["alpha"]
    tenant_services.team_member_remove(team=team, user=owner)
    assert client.get(NATIVE + "me").json()["teams"] == []
    response = client.post(
        MLFLOW + "registered-models/rename", {"name": "churn", "new_name": "x"}, format="json"
    )
    assert response.status_code == 403


def test_another_tenant_and_a_viewer_get_no_further_with_one_statement(
    churn, outsider, other_tenant, viewer, tenant
):
    outsider_client = client_for(issue(outsider, other_tenant))
    assert (
        outsider_client.get(MLFLOW + "model-versions/get", {"name": "churn", "version": "1"}).status_code
        == 404
    )
    viewer_client = client_for(issue(viewer, tenant, ["read"]))
    assert (
        viewer_client.get(MLFLOW + "model-versions/get", {"name": "churn", "version": "1"}).status_code == 200
    )
    response = viewer_client.post(
        MLFLOW + "model-versions/transition-stage",
        {"name": "churn", "version": "1", "stage": "Archived", "archive_existing_versions": False},
        format="json",
    )
    assert response.status_code == 403
