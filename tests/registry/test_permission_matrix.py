"""The permission matrix: every level (none … manage) × every registry action, granted to a user and to a team,
through the native API and the MLflow API, with the exact outcome (allowed, 403 PERMISSION_DENIED, or 404
RESOURCE_DOES_NOT_EXIST). Then the rules around the grants: ownership, tenant admins, the members-read-all default,
viewers, token scopes and other tenants.

The tenant, people, tokens and the model are built once for the module (committed, removed at the end); each test
runs in a transaction that is rolled back, so a test that renames or deletes the model leaves it to the next."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from accounts import services as account_services
from registry import permissions
from registry import services as registry_services
from registry.models import AuditChainHead, AuditEvent, RegisteredModel, VersionStatus
from registry.permissions import SCOPE_FOR_LEVEL
from registry.permissions_levels import LEVEL_RANK, LEVELS
from registry.tracking.models import ArtifactEntry, Experiment
from tenants import services as tenant_services
from tenants.models import Tenant
from tests.helpers import client_for, issue, principal_of
from tests.helpers import make_run_in_new_experiment as make_run
from tests.registry.audit_helpers import triggers_disabled

ALL_SCOPES = ["read", "write", "promote", "admin"]
SLUG, OTHER_SLUG = "matrix", "matrix-other"
NATIVE = f"/t/{SLUG}/api/v1"
MLFLOW = f"/t/{SLUG}/api/2.0/mlflow"
USERNAMES = ["mx-owner", "mx-user", "mx-teamer", "mx-admin", "mx-viewer", "mx-outsider"]


@dataclass
class World:
    tenant: Tenant
    model_id: int
    run_id: str
    users: dict
    teams: dict
    tokens: dict  # username → secret with every scope the role allows


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        tenant = tenant_services.tenant_create(slug=SLUG)
        Tenant.objects.filter(pk=tenant.pk).update(members_read_all=False)
        tenant.refresh_from_db()
        other = tenant_services.tenant_create(slug=OTHER_SLUG)
        owners = tenant_services.team_create(tenant=tenant, slug="owners")
        grantees = tenant_services.team_create(tenant=tenant, slug="grantees")
        users = {
            "mx-owner": account_services.user_create(
                username="mx-owner", tenant=tenant, role="member", teams=[owners]
            ),
            "mx-user": account_services.user_create(username="mx-user", tenant=tenant, role="member"),
            "mx-teamer": account_services.user_create(
                username="mx-teamer", tenant=tenant, role="member", teams=[grantees]
            ),
            "mx-admin": account_services.user_create(username="mx-admin", tenant=tenant, role="admin"),
            "mx-viewer": account_services.user_create(username="mx-viewer", tenant=tenant, role="viewer"),
            "mx-outsider": account_services.user_create(username="mx-outsider", tenant=other, role="admin"),
        }
        tokens = {
            name: issue(
                user,
                other if name == "mx-outsider" else tenant,
                ["read"] if name == "mx-viewer" else ALL_SCOPES,
            )
            for name, user in users.items()
        }
        # Model `m`, owned by `owners`: v1 Production + champion, v2 Staging, v3 None + candidate, v4 None.
        principal = principal_of(users["mx-admin"], tenant)
        run = make_run(tenant)
        experiment = Experiment.objects.get(pk=run.experiment_id)
        # The grantees must be able to read the run they register versions from (members_read_all is off).
        permissions.replace_grants(
            experiment,
            [
                ("user", users["mx-user"], "read"),
                ("team", grantees, "read"),
                ("team", owners, "read"),
                ("user", users["mx-viewer"], "read"),
            ],
        )
        model = registry_services.registered_model_create(
            principal=principal, name="m", owner_team=owners, tags={"k": "v"}
        )
        versions = []
        for _ in range(4):
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
        registry_services.alias_set(principal=principal, model=model, alias="candidate", version=3)
    yield World(
        tenant=tenant,
        model_id=model.pk,
        run_id=run.run_id,
        users=users,
        teams={"owners": owners, "grantees": grantees},
        tokens=tokens,
    )
    with django_db_blocker.unblock():
        group_ids = [owners.group_id, grantees.group_id]
        # Blobs are PROTECTed by the files that point at them: remove those first, then the tenants cascade. A
        # tenant's audit history is append-only and PROTECTs the tenant: this module-wide fixture (outside any
        # test transaction) removes it the way only a database owner can, with the triggers off.
        RegisteredModel.objects.filter(tenant__slug__in=[SLUG, OTHER_SLUG]).delete()
        ArtifactEntry.objects.filter(tenant__slug__in=[SLUG, OTHER_SLUG]).delete()
        with transaction.atomic(), triggers_disabled():
            AuditEvent.objects.filter(tenant__slug__in=[SLUG, OTHER_SLUG]).delete()
            AuditChainHead.objects.filter(tenant__slug__in=[SLUG, OTHER_SLUG]).delete()
        Tenant.objects.filter(slug__in=[SLUG, OTHER_SLUG]).delete()
        Group.objects.filter(pk__in=group_ids).delete()
        get_user_model().objects.filter(username__in=USERNAMES).delete()


@pytest.fixture(autouse=True)
def _in_a_rolled_back_transaction(db):
    """Every test gets the module's world and rolls back whatever it changed."""


# --- the actions -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    level: str  # the level it needs
    native: Callable | None
    mlflow: Callable | None


def _mlflow_delete(client, path, body):
    return client.delete(f"{MLFLOW}/{path}", body, format="json")


ACTIONS: dict[str, Action] = {
    "read model": Action(
        "read",
        lambda c, w: c.get(f"{NATIVE}/models/m"),
        lambda c, w: c.get(f"{MLFLOW}/registered-models/get", {"name": "m"}),
    ),
    "list": Action(
        "read",
        lambda c, w: c.get(f"{NATIVE}/models/", {"name": "m"}),
        lambda c, w: c.get(f"{MLFLOW}/registered-models/search", {"filter": "name = 'm'"}),
    ),
    "read version": Action(
        "read",
        lambda c, w: c.get(f"{NATIVE}/models/m/versions/1"),
        lambda c, w: c.get(f"{MLFLOW}/model-versions/get", {"name": "m", "version": "1"}),
    ),
    "resolve alias": Action(
        "read",
        lambda c, w: c.get(f"{NATIVE}/models/m/resolve", {"alias": "champion"}),
        lambda c, w: c.get(f"{MLFLOW}/registered-models/alias", {"name": "m", "alias": "champion"}),
    ),
    "edit description": Action(
        "edit",
        lambda c, w: c.patch(f"{NATIVE}/models/m", {"description": "new"}, format="json"),
        lambda c, w: c.patch(
            f"{MLFLOW}/registered-models/update", {"name": "m", "description": "new"}, format="json"
        ),
    ),
    "set tag": Action(
        "edit",
        lambda c, w: c.put(f"{NATIVE}/models/m/tags/note", {"value": "x"}, format="json"),
        lambda c, w: c.post(
            f"{MLFLOW}/registered-models/set-tag", {"name": "m", "key": "note", "value": "x"}, format="json"
        ),
    ),
    "set version tag": Action(
        "edit",
        lambda c, w: c.put(f"{NATIVE}/models/m/versions/3/tags/note", {"value": "x"}, format="json"),
        lambda c, w: c.post(
            f"{MLFLOW}/model-versions/set-tag",
            {"name": "m", "version": "3", "key": "note", "value": "x"},
            format="json",
        ),
    ),
    "set ownership tag": Action(
        "manage",
        lambda c, w: c.put(f"{NATIVE}/models/m/tags/owner_email", {"value": "x@example.com"}, format="json"),
        lambda c, w: c.post(
            f"{MLFLOW}/registered-models/set-tag",
            {"name": "m", "key": "owner_email", "value": "x@example.com"},
            format="json",
        ),
    ),
    "set owner": Action(
        "manage",
        lambda c, w: c.put(f"{NATIVE}/models/m/owner", {"team": "grantees"}, format="json"),
        lambda c, w: c.post(
            f"{MLFLOW}/registered-models/set-tag",
            {"name": "m", "key": "owner_team", "value": "grantees"},
            format="json",
        ),
    ),
    "create version": Action(
        "edit",
        lambda c, w: c.post(
            f"{NATIVE}/models/m/versions/", {"source": f"runs:/{w.run_id}/model"}, format="json"
        ),
        lambda c, w: c.post(
            f"{MLFLOW}/model-versions/create",
            {"name": "m", "source": f"runs:/{w.run_id}/model"},
            format="json",
        ),
    ),
    "move unprotected alias": Action(
        "edit",
        lambda c, w: c.put(f"{NATIVE}/models/m/aliases/candidate", {"version": 4}, format="json"),
        lambda c, w: c.post(
            f"{MLFLOW}/registered-models/alias",
            {"name": "m", "alias": "candidate", "version": "4"},
            format="json",
        ),
    ),
    "move protected alias": Action(
        "manage_production",
        lambda c, w: c.put(f"{NATIVE}/models/m/aliases/champion", {"version": 2}, format="json"),
        lambda c, w: c.post(
            f"{MLFLOW}/registered-models/alias",
            {"name": "m", "alias": "champion", "version": "2"},
            format="json",
        ),
    ),
    "Staging": Action(
        "manage_staging",
        lambda c, w: c.post(f"{NATIVE}/models/m/versions/3/stage", {"stage": "Staging"}, format="json"),
        lambda c, w: c.post(
            f"{MLFLOW}/model-versions/transition-stage",
            {"name": "m", "version": "3", "stage": "Staging", "archive_existing_versions": False},
            format="json",
        ),
    ),
    "Production": Action(
        "manage_production",
        lambda c, w: c.post(
            f"{NATIVE}/models/m/versions/2/stage",
            {"stage": "Production", "archive_existing_versions": True},
            format="json",
        ),
        lambda c, w: c.post(
            f"{MLFLOW}/model-versions/transition-stage",
            {"name": "m", "version": "2", "stage": "Production", "archive_existing_versions": True},
            format="json",
        ),
    ),
    "Archive": Action(
        "manage_staging",
        lambda c, w: c.post(f"{NATIVE}/models/m/versions/3/stage", {"stage": "Archived"}, format="json"),
        lambda c, w: c.post(
            f"{MLFLOW}/model-versions/transition-stage",
            {"name": "m", "version": "3", "stage": "Archived", "archive_existing_versions": False},
            format="json",
        ),
    ),
    "grant permissions": Action(
        "manage",
        lambda c, w: c.put(
            f"{NATIVE}/models/m/permissions",
            {"grants": [{"user": "mx-viewer", "level": "read"}]},
            format="json",
        ),
        None,  # the MLflow API has no permissions endpoint: grants are a Modelgate concept
    ),
    "rename": Action(
        "manage",
        lambda c, w: c.post(f"{NATIVE}/models/m/rename", {"new_name": "m2"}, format="json"),
        lambda c, w: c.post(
            f"{MLFLOW}/registered-models/rename", {"name": "m", "new_name": "m2"}, format="json"
        ),
    ),
    "delete": Action(
        "manage",
        lambda c, w: c.delete(f"{NATIVE}/models/m"),
        lambda c, w: _mlflow_delete(c, "registered-models/delete", {"name": "m"}),
    ),
}

CASES = [
    (name, api)
    for name, action in ACTIONS.items()
    for api in ("native", "mlflow")
    if getattr(action, api) is not None
]


def perform(world: World, secret: str, action_name: str, api: str):
    return getattr(ACTIONS[action_name], api)(client_for(secret), world)


def expected_outcome(level: str | None, needs: str, scopes=ALL_SCOPES) -> int:
    """200 = allowed; 404 = the model is invisible; 403 = visible but not allowed (level or token scope)."""
    if level is None:
        return 404
    if LEVEL_RANK[level] < LEVEL_RANK[needs]:
        return 403
    scope = SCOPE_FOR_LEVEL[needs]
    return 200 if scope in scopes or "admin" in scopes else 403


def assert_outcome(res, action_name: str, api: str, outcome: int) -> None:
    body = res.json() if res.content else {}
    if action_name == "list":
        # A list never refuses: it leaves out what the caller may not read.
        assert res.status_code == 200, res.content
        rows = body.get("results", body.get("registered_models", []))
        assert ("m" in [r["name"] for r in rows]) == (outcome != 404), (outcome, body)
        return
    if outcome == 200:
        assert res.status_code < 300, (res.status_code, body)
        return
    assert res.status_code == outcome, (res.status_code, body)
    assert body["error_code"] == {403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST"}[outcome]
    assert "champion" not in res.content.decode() or outcome == 403  # a 404 never leaks the model's contents


def _grant(world: World, subject: str, level: str | None) -> str:
    """Give the subject (`user` grant to mx-user, `team` grant to grantees) `level`; return the caller's name."""
    model = RegisteredModel.objects.get(pk=world.model_id)
    if subject == "user":
        parsed = [("user", world.users["mx-user"], level)] if level else []
        caller = "mx-user"
    else:
        parsed = [("team", world.teams["grantees"], level)] if level else []
        caller = "mx-teamer"
    permissions.replace_grants(model, parsed)
    return caller


# --- the matrix ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [None, *LEVELS], ids=["none", *LEVELS])
@pytest.mark.parametrize("subject", ["user", "team"])
@pytest.mark.parametrize("action_name,api", CASES, ids=[f"{a}-{api}" for a, api in CASES])
def test_every_level_allows_exactly_its_actions(world, subject, level, action_name, api):
    caller = _grant(world, subject, level)
    res = perform(world, world.tokens[caller], action_name, api)
    assert_outcome(res, action_name, api, expected_outcome(level, ACTIONS[action_name].level))


# --- the rules around grants -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("action_name,api", CASES, ids=[f"{a}-{api}" for a, api in CASES])
def test_the_owning_team_has_manage_without_a_grant(world, action_name, api):
    _grant(world, "user", None)
    assert_outcome(perform(world, world.tokens["mx-owner"], action_name, api), action_name, api, 200)


@pytest.mark.parametrize("action_name,api", CASES, ids=[f"{a}-{api}" for a, api in CASES])
def test_a_tenant_admin_may_do_everything(world, action_name, api):
    assert_outcome(perform(world, world.tokens["mx-admin"], action_name, api), action_name, api, 200)


@pytest.mark.parametrize("action_name,api", CASES, ids=[f"{a}-{api}" for a, api in CASES])
def test_members_read_every_model_by_default_but_change_none(world, action_name, api):
    Tenant.objects.filter(pk=world.tenant.pk).update(members_read_all=True)
    outcome = expected_outcome("read", ACTIONS[action_name].level)
    assert_outcome(perform(world, world.tokens["mx-user"], action_name, api), action_name, api, outcome)


@pytest.mark.parametrize("action_name,api", CASES, ids=[f"{a}-{api}" for a, api in CASES])
def test_without_members_read_all_an_ungranted_member_sees_nothing(world, action_name, api):
    _grant(world, "user", None)
    assert_outcome(perform(world, world.tokens["mx-user"], action_name, api), action_name, api, 404)


@pytest.mark.parametrize("action_name,api", CASES, ids=[f"{a}-{api}" for a, api in CASES])
def test_a_viewer_never_writes_even_with_a_manage_grant(world, action_name, api):
    model = RegisteredModel.objects.get(pk=world.model_id)
    permissions.replace_grants(model, [("user", world.users["mx-viewer"], "manage")])
    outcome = expected_outcome("read", ACTIONS[action_name].level)
    assert_outcome(perform(world, world.tokens["mx-viewer"], action_name, api), action_name, api, outcome)


@pytest.mark.parametrize(
    "scopes",
    [["read"], ["read", "write"], ["read", "write", "promote"]],
    ids=["read", "read+write", "read+write+promote"],
)
@pytest.mark.parametrize("action_name,api", CASES, ids=[f"{a}-{api}" for a, api in CASES])
def test_token_scopes_cap_a_manage_grant(world, scopes, action_name, api):
    _grant(world, "user", "manage")
    secret = issue(world.users["mx-user"], world.tenant, scopes)
    outcome = expected_outcome("manage", ACTIONS[action_name].level, scopes)
    assert_outcome(perform(world, secret, action_name, api), action_name, api, outcome)


@pytest.mark.parametrize("action_name,api", CASES, ids=[f"{a}-{api}" for a, api in CASES])
def test_another_tenants_admin_gets_404(world, action_name, api):
    res = perform(world, world.tokens["mx-outsider"], action_name, api)
    assert res.status_code == 404, res.content
    assert res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert "champion" not in res.content.decode()


def test_replacing_grants_never_removes_the_owners_manage(world):
    res = client_for(world.tokens["mx-owner"]).put(
        f"{NATIVE}/models/m/permissions", {"grants": []}, format="json"
    )
    assert res.status_code == 200, res.content
    assert (
        client_for(world.tokens["mx-owner"]).get(f"{NATIVE}/models/m").json()["permission_level"] == "manage"
    )


def test_the_granted_level_is_what_the_model_reports(world):
    for level in LEVELS:
        _grant(world, "team", level)
        body = client_for(world.tokens["mx-teamer"]).get(f"{NATIVE}/models/m").json()
        assert body["permission_level"] == level
