"""Registry services and selectors against PostgreSQL: models, versions, registration, stages, aliases, tags,
ownership, grants, and the permission checks every service makes itself."""

from __future__ import annotations

import pytest

from accounts import services as account_services
from config.errors import AlreadyExists, Conflict, InvalidParameter, NotFound, PermissionDenied, QuotaExceeded
from registry import selectors, services
from registry.models import AuditEvent, ModelVersion, ModelVersionFile, RegisteredModelTag, VersionStatus
from tests.helpers import (
    MODEL_FILES,
    expected_manifest,
    make_logged_model,
    make_run,
    principal,
    put_file,
)

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["read", "write", "promote", "admin"]


@pytest.fixture
def p_owner(owner, tenant):
    return principal(owner, tenant, ALL_SCOPES)


@pytest.fixture
def model(p_owner):
    return services.registered_model_create(principal=p_owner, name="churn", description="d", tags={"k": "v"})


def ready_version(p, model, tenant, files=None):
    logged = make_logged_model(tenant, files=files)
    version = services.model_version_create(principal=p, model=model, source=f"models:/{logged.model_id}")
    services.registration_finalize(version_id=version.pk)
    version.refresh_from_db()
    return version


# --- registered models -------------------------------------------------------------------------------------------


def test_it_creates_a_model_owned_by_the_creators_team_with_an_owner_team_tag(model, team):
    assert model.owner_team == team
    tags = dict(RegisteredModelTag.objects.filter(model=model).values_list("key", "value"))
    assert tags == {"k": "v", "owner_team": "alpha"}
    assert AuditEvent.objects.filter(action="registered_model.created", model_id=model.pk).exists()


def test_it_refuses_a_duplicate_name_with_mlflows_message(model, p_owner):
    with pytest.raises(AlreadyExists, match=r"Registered Model \(name=churn\) already exists\."):
        services.registered_model_create(principal=p_owner, name="churn")


@pytest.mark.parametrize("name", ["", "  ", "a/b", "a:b", "a@b", ".", "..", "x" * 257])
def test_it_rejects_invalid_model_names(p_owner, name):
    with pytest.raises(InvalidParameter):
        services.registered_model_create(principal=p_owner, name=name)


def test_viewers_and_read_only_tokens_cannot_create_models(viewer, owner, tenant):
    with pytest.raises(PermissionDenied):
        services.registered_model_create(principal=principal(viewer, tenant), name="x")
    with pytest.raises(PermissionDenied):
        services.registered_model_create(principal=principal(owner, tenant, ["read"]), name="x")


def test_it_enforces_the_model_quota(p_owner, tenant):
    tenant.quota_models = 1
    tenant.save(update_fields=["quota_models"])
    services.registered_model_create(principal=p_owner, name="one")
    with pytest.raises(QuotaExceeded):
        services.registered_model_create(principal=p_owner, name="two")


def test_a_user_without_a_team_gets_manage_on_their_model(tenant):
    loner = account_services.user_create(username="lone", tenant=tenant, role="member")
    p = principal(loner, tenant, ALL_SCOPES)
    m = services.registered_model_create(principal=p, name="solo")
    assert m.owner_team is None
    services.registered_model_rename(principal=p, model=m, new_name="solo2")


def test_only_own_teams_can_be_named_as_owner_at_creation(p_owner, other_team):
    with pytest.raises(PermissionDenied):
        services.registered_model_create(principal=p_owner, name="x", tags={"owner_team": "beta"})


def test_another_tenant_sees_a_404_for_the_model(model, outsider, other_tenant):
    p_out = principal(outsider, other_tenant)
    with pytest.raises(NotFound):
        selectors.model_get(p_out, "churn")
    with pytest.raises(NotFound):
        services.registered_model_update(principal=p_out, model=model, description="x")
    with pytest.raises(NotFound):
        services.model_version_create(principal=p_out, model=model, source="models:/m-1")


def test_a_teammate_reads_but_cannot_change_the_model(model, teammate, tenant):
    p = principal(teammate, tenant)
    assert selectors.model_get(p, "churn") == model
    with pytest.raises(PermissionDenied):
        services.registered_model_update(principal=p, model=model, description="x")
    with pytest.raises(PermissionDenied):
        services.registered_model_set_tag(principal=p, model=model, key="a", value="b")


def test_a_model_unreadable_by_default_is_a_404_not_a_403(model, teammate, tenant):
    tenant.members_read_all = False
    tenant.save(update_fields=["members_read_all"])
    with pytest.raises(NotFound):
        selectors.model_get(principal(teammate, tenant), "churn")


def test_ownership_tags_need_manage_and_owner_team_moves_the_owner(
    model, teammate, tenant, p_owner, other_team
):
    services.registered_model_set_grants(
        principal=p_owner, model=model, grants=[{"user": "tom", "level": "edit"}]
    )
    p_edit = principal(teammate, tenant)
    services.registered_model_set_tag(principal=p_edit, model=model, key="free", value="1")
    with pytest.raises(PermissionDenied):
        services.registered_model_set_tag(principal=p_edit, model=model, key="owner_team", value="beta")
    with pytest.raises(PermissionDenied):
        services.registered_model_set_tag(principal=p_edit, model=model, key="owner_email", value="x@y")
    with pytest.raises(InvalidParameter):
        services.registered_model_delete_tag(principal=p_owner, model=model, key="owner_team")
    services.registered_model_set_tag(principal=p_owner, model=model, key="owner_team", value="beta")
    model.refresh_from_db()
    assert model.owner_team == other_team
    assert RegisteredModelTag.objects.get(model=model, key="owner_team").value == "beta"


def test_grants_round_trip_and_a_team_grant_gives_its_level(model, p_owner, teammate, tenant):
    grants = services.registered_model_set_grants(
        principal=p_owner, model=model, grants=[{"team": "beta", "level": "manage_staging"}]
    )
    assert grants == [{"team": "beta", "level": "manage_staging"}]
    p = principal(teammate, tenant, ALL_SCOPES)
    services.registered_model_update(principal=p, model=model, description="via team grant")
    with pytest.raises(PermissionDenied):
        services.registered_model_set_grants(principal=p, model=model, grants=[])


def test_rename_and_delete_need_manage(model, p_owner, teammate, tenant):
    services.registered_model_set_grants(
        principal=p_owner, model=model, grants=[{"user": "tom", "level": "manage_production"}]
    )
    p = principal(teammate, tenant, ALL_SCOPES)
    with pytest.raises(PermissionDenied):
        services.registered_model_rename(principal=p, model=model, new_name="x")
    with pytest.raises(PermissionDenied):
        services.registered_model_delete(principal=p, model=model)
    services.registered_model_rename(principal=p_owner, model=model, new_name="churn2")
    services.registered_model_delete(principal=p_owner, model=model)
    with pytest.raises(NotFound):
        selectors.model_get(p_owner, "churn2")


# --- versions and registration -----------------------------------------------------------------------------------


def test_a_version_from_a_logged_model_takes_its_run_and_snapshots_its_files(model, p_owner, tenant):
    logged = make_logged_model(tenant)
    version = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{logged.model_id}"
    )
    assert version.version == 1
    assert version.status == VersionStatus.PENDING_REGISTRATION
    assert version.run_id == logged.source_run.run_id
    assert version.source_path == f"0/models/{logged.model_id}/artifacts"
    assert services.registration_finalize(version_id=version.pk) == VersionStatus.READY
    version.refresh_from_db()
    assert selectors.manifest(version) == expected_manifest(MODEL_FILES)
    assert version.manifest_sha256 == services.manifest_sha256(
        (f["path"], f["size"], f["sha256"]) for f in expected_manifest(MODEL_FILES)
    )


def test_registration_twice_leaves_one_ready_version_with_the_same_manifest(model, p_owner, tenant):
    version = ready_version(p_owner, model, tenant)
    digest = version.manifest_sha256
    assert services.registration_finalize(version_id=version.pk) == VersionStatus.READY
    version.refresh_from_db()
    assert version.manifest_sha256 == digest
    assert ModelVersionFile.objects.filter(version=version).count() == len(MODEL_FILES)


def test_later_artifact_writes_never_change_a_ready_version(model, p_owner, tenant):
    version = ready_version(p_owner, model, tenant)
    before = selectors.manifest(version)
    put_file(tenant, f"{version.source_path}/model.pkl", b"retrained bytes")
    put_file(tenant, f"{version.source_path}/extra.txt", b"new file")
    assert selectors.manifest(version) == before


def test_registration_of_an_empty_source_is_ready_with_an_empty_manifest(model, p_owner, tenant):
    # MLflow registers a version READY whatever its source holds; an empty directory is an empty manifest.
    logged = make_logged_model(tenant, files={})
    version = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{logged.model_id}"
    )
    assert services.registration_finalize(version_id=version.pk) == VersionStatus.READY
    version.refresh_from_db()
    assert version.status_message == ""
    assert not ModelVersionFile.objects.filter(version=version).exists()
    assert version.manifest_sha256 == services.manifest_sha256([])


def test_registration_of_a_source_naming_no_location_fails_with_a_reason(model, p_owner, tenant):
    logged = make_logged_model(tenant, files={})
    version = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{logged.model_id}"
    )
    ModelVersion.objects.filter(pk=version.pk).update(
        source_path=""
    )  # a row from before sources were resolved
    assert services.registration_finalize(version_id=version.pk) == VersionStatus.FAILED_REGISTRATION
    version.refresh_from_db()
    assert "does not name a location" in version.status_message


def test_runs_and_mlflow_artifacts_sources_resolve_inside_the_tenant(model, p_owner, tenant):
    run = make_run(tenant)
    put_file(tenant, f"0/{run.run_id}/artifacts/model/MLmodel", b"x")
    v1 = services.model_version_create(principal=p_owner, model=model, source=f"runs:/{run.run_id}/model")
    assert v1.source_path == f"0/{run.run_id}/artifacts/model"
    assert v1.run_id == run.run_id
    v2 = services.model_version_create(
        principal=p_owner, model=model, source=f"mlflow-artifacts:/0/{run.run_id}/artifacts/model"
    )
    assert v2.source_path == f"0/{run.run_id}/artifacts/model"
    services.registration_finalize(version_id=v2.pk)
    assert [f["path"] for f in selectors.manifest(v2)] == ["MLmodel"]


@pytest.mark.parametrize(
    "source",
    [
        "s3://bucket/x",
        "/etc/passwd",
        "runs:/nope/model",
        "models:/m-nope",
        "mlflow-artifacts:/0/../../x",
        "mlflow-artifacts://otherhost/0/x",
        "file:///tmp/x",
    ],
)
def test_it_rejects_sources_outside_the_tenant_or_unresolvable(model, p_owner, source):
    with pytest.raises(InvalidParameter):
        services.model_version_create(principal=p_owner, model=model, source=source)


def test_another_tenants_logged_model_is_not_a_valid_source(model, p_owner, other_tenant):
    foreign = make_logged_model(other_tenant)
    with pytest.raises(InvalidParameter):
        services.model_version_create(principal=p_owner, model=model, source=f"models:/{foreign.model_id}")


def test_version_numbers_come_from_the_counter_and_are_never_reused(model, p_owner, tenant):
    v1 = ready_version(p_owner, model, tenant)
    v2 = ready_version(p_owner, model, tenant)
    services.model_version_delete(principal=p_owner, version=v2)
    v3 = ready_version(p_owner, model, tenant)
    assert (v1.version, v3.version) == (1, 3)


def test_read_only_users_cannot_create_versions(model, teammate, viewer, tenant):
    logged = make_logged_model(tenant)
    for p in (principal(teammate, tenant), principal(viewer, tenant)):
        with pytest.raises(PermissionDenied):
            services.model_version_create(principal=p, model=model, source=f"models:/{logged.model_id}")


# --- stages ------------------------------------------------------------------------------------------------------


def test_archiving_promotion_leaves_one_production_version(model, p_owner, tenant):
    v1 = ready_version(p_owner, model, tenant)
    v2 = ready_version(p_owner, model, tenant)
    services.model_version_transition_stage(principal=p_owner, version=v1, stage="production")
    services.model_version_transition_stage(
        principal=p_owner, version=v2, stage="PRODUCTION", archive_existing_versions=True
    )
    stages = dict(ModelVersion.objects.filter(model=model).values_list("version", "stage"))
    assert stages == {1: "Archived", 2: "Production"}
    latest = selectors.latest_versions(p_owner, model, ["Production"])
    assert [v.version for v in latest] == [2]


def test_stage_transitions_validate_stage_archive_flag_and_status(model, p_owner, tenant):
    v1 = ready_version(p_owner, model, tenant)
    with pytest.raises(InvalidParameter, match="Invalid Model Version stage: Prod"):
        services.model_version_transition_stage(principal=p_owner, version=v1, stage="Prod")
    with pytest.raises(InvalidParameter):
        services.model_version_transition_stage(
            principal=p_owner, version=v1, stage="Archived", archive_existing_versions=True
        )
    pending = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{make_logged_model(tenant).model_id}"
    )
    with pytest.raises(Conflict):
        services.model_version_transition_stage(principal=p_owner, version=pending, stage="Staging")


def test_a_stale_expected_stage_is_a_conflict(model, p_owner, tenant):
    v1 = ready_version(p_owner, model, tenant)
    services.model_version_transition_stage(
        principal=p_owner, version=v1, stage="Staging", expected_stage="None"
    )
    with pytest.raises(Conflict):
        services.model_version_transition_stage(
            principal=p_owner, version=v1, stage="Production", expected_stage="None"
        )


def test_manage_staging_moves_to_staging_but_not_production(model, p_owner, teammate, tenant):
    v1 = ready_version(p_owner, model, tenant)
    services.registered_model_set_grants(
        principal=p_owner, model=model, grants=[{"user": "tom", "level": "manage_staging"}]
    )
    p = principal(teammate, tenant)
    services.model_version_transition_stage(principal=p, version=v1, stage="Staging")
    with pytest.raises(PermissionDenied):
        services.model_version_transition_stage(principal=p, version=v1, stage="Production")


def test_stage_changes_need_the_promote_scope(model, p_owner, owner, tenant):
    v1 = ready_version(p_owner, model, tenant)
    with pytest.raises(PermissionDenied, match="promote"):
        services.model_version_transition_stage(
            principal=principal(owner, tenant, ["read", "write"]), version=v1, stage="Staging"
        )


# --- aliases -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["latest", "LATEST", "v1", "V12", "has space", "a/b", "x" * 256, ""])
def test_reserved_and_malformed_aliases_are_rejected(model, p_owner, tenant, alias):
    ready_version(p_owner, model, tenant)
    with pytest.raises(InvalidParameter):
        services.alias_set(principal=p_owner, model=model, alias=alias, version=1)


def test_aliases_move_and_resolve(model, p_owner, tenant):
    ready_version(p_owner, model, tenant)
    ready_version(p_owner, model, tenant)
    services.alias_set(principal=p_owner, model=model, alias="champion", version="1")
    assert selectors.version_by_alias(p_owner, "churn", "champion").version == 1
    services.alias_set(principal=p_owner, model=model, alias="champion", version=2, expected_version=1)
    resolved = selectors.resolve(p_owner, model, alias="champion")
    assert resolved["version"] == "2" and resolved["aliases"] == ["champion"]
    assert resolved["download_uri"] == f"mlflow-artifacts:/_registry/{model.pk}/2"
    services.alias_delete(principal=p_owner, model=model, alias="champion")
    with pytest.raises(InvalidParameter, match="Registered model alias champion not found."):
        selectors.version_by_alias(p_owner, "churn", "champion")


def test_alias_preconditions_give_conflicts(model, p_owner, tenant):
    ready_version(p_owner, model, tenant)
    ready_version(p_owner, model, tenant)
    services.alias_set(principal=p_owner, model=model, alias="candidate", version=1, expected_version="")
    with pytest.raises(Conflict):
        services.alias_set(principal=p_owner, model=model, alias="candidate", version=2, expected_version="")
    with pytest.raises(Conflict):
        services.alias_set(principal=p_owner, model=model, alias="candidate", version=2, expected_version=2)
    with pytest.raises(Conflict):
        services.alias_delete(principal=p_owner, model=model, alias="candidate", expected_version=2)
    services.alias_delete(principal=p_owner, model=model, alias="candidate", expected_version=1)


def test_protected_aliases_need_manage_production(model, p_owner, teammate, tenant):
    ready_version(p_owner, model, tenant)
    services.registered_model_set_grants(
        principal=p_owner, model=model, grants=[{"user": "tom", "level": "edit"}]
    )
    p = principal(teammate, tenant)
    services.alias_set(principal=p, model=model, alias="candidate", version=1)
    with pytest.raises(PermissionDenied):
        services.alias_set(principal=p, model=model, alias="champion", version=1)
    with pytest.raises(PermissionDenied):
        services.alias_set(
            principal=principal(*_owner_of(p_owner), ["read", "write"]),
            model=model,
            alias="champion",
            version=1,
        )


def _owner_of(p):
    return p.user, p.tenant


def test_an_alias_on_a_missing_version_is_a_404(model, p_owner, tenant):
    with pytest.raises(NotFound):
        services.alias_set(principal=p_owner, model=model, alias="champion", version=9)


def test_resolve_by_stage_and_version(model, p_owner, tenant):
    v1 = ready_version(p_owner, model, tenant)
    services.model_version_transition_stage(principal=p_owner, version=v1, stage="Staging")
    by_stage = selectors.resolve(p_owner, model, stage="staging")
    by_version = selectors.resolve(p_owner, model, version="1")
    assert by_stage == by_version
    assert by_stage["manifest_sha256"] == v1.manifest_sha256
    with pytest.raises(NotFound):
        selectors.resolve(p_owner, model, stage="Production")


# --- search ------------------------------------------------------------------------------------------------------


def test_model_search_filters_by_name_and_tag_and_excludes_prompts(p_owner, tenant):
    services.registered_model_create(principal=p_owner, name="churn-a", tags={"team": "a"})
    services.registered_model_create(principal=p_owner, name="churn-b", tags={"team": "b"})
    services.registered_model_create(
        principal=p_owner, name="prompt-x", tags={"mlflow.prompt.is_prompt": "true"}
    )
    prompt = " AND tag.`mlflow.prompt.is_prompt` != 'true'"
    found, _ = selectors.models_search(p_owner, "name LIKE 'churn%'" + prompt)
    assert [m.name for m in found] == ["churn-a", "churn-b"]
    found, _ = selectors.models_search(p_owner, "tags.team = 'b'" + prompt)
    assert [m.name for m in found] == ["churn-b"]
    found, _ = selectors.models_search(p_owner, "tag.`mlflow.prompt.is_prompt` != 'true'")
    assert "prompt-x" not in [m.name for m in found]
    page1, token = selectors.models_search(p_owner, None, ["name DESC"], 2)
    page2, token2 = selectors.models_search(p_owner, None, ["name DESC"], 2, token)
    assert [m.name for m in page1 + page2] == ["prompt-x", "churn-b", "churn-a"]
    assert token2 is None


def test_model_search_only_returns_readable_models_of_the_tenant(p_owner, outsider, other_tenant):
    services.registered_model_create(principal=p_owner, name="mine")
    found, _ = selectors.models_search(principal(outsider, other_tenant), "")
    assert found == []


def test_version_search_filters_and_orders(model, p_owner, tenant):
    ready_version(p_owner, model, tenant)
    ready_version(p_owner, model, tenant)
    found, _ = selectors.versions_search(p_owner, "name = 'churn'")
    assert [v.version for v in found] == [2, 1]
    found, _ = selectors.versions_search(p_owner, "version_number >= 2")
    assert [v.version for v in found] == [2]
    with pytest.raises(InvalidParameter):
        selectors.versions_search(p_owner, "current_stage = 'None'")
