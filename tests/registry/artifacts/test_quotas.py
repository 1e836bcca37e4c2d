"""Quotas per tenant: bytes (refused before anything is kept, on both backends), models, versions per model; usage
counts what is referenced; `GET /t/<tenant>/api/v1/usage` for tenant admins."""

from __future__ import annotations

import io
import os

import pytest
from django.conf import settings

from config.errors import QuotaExceeded
from registry import services as registry_services
from registry.artifacts import services
from registry.artifacts.selectors import tenant_usage
from registry.tracking import services as tracking_services
from registry.tracking.models import ArtifactEntry, Blob
from tenants import services as tenant_services
from tests.helpers import principal

USAGE = "/t/acme/api/v1/usage"


def run_path(user, tenant) -> str:
    me = principal(user, tenant)
    experiment = tracking_services.experiment_create(principal=me, name="q")
    run = tracking_services.run_create(principal=me, experiment=experiment, run_name="r")
    return f"{experiment.number}/{run.run_id}/artifacts"


def upload(user, tenant, path: str, data: bytes, declared: int | None = None):
    return services.artifact_upload(
        principal=principal(user, tenant), path=path, read=io.BytesIO(data).read, declared_size=declared
    )


def temp_files() -> list[str]:
    spool = os.path.join(str(settings.ARTIFACT_ROOT), ".uploads")
    return os.listdir(spool) if os.path.isdir(spool) else []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
def test_an_upload_over_the_storage_quota_is_refused_and_keeps_nothing(
    artifact_backend, owner, tenant, declared
):
    tenant_services.tenant_update(tenant=tenant, actor=None, quota_storage_bytes=10)
    tenant.refresh_from_db()
    path = run_path(owner, tenant)
    before_temp = set(temp_files())
    data = b"x" * (3 * 1024 * 1024)
    with pytest.raises(QuotaExceeded) as exc:
        upload(owner, tenant, f"{path}/big.bin", data, len(data) if declared else None)
    assert exc.value.code == "QUOTA_EXCEEDED"
    assert not Blob.objects.filter(tenant=tenant).exists()
    assert not ArtifactEntry.objects.filter(tenant=tenant).exists()
    # The file backend's root is shared by the session: look at this tenant's objects only.
    assert {k for k in artifact_backend.blob_keys() if k.startswith(f"tenants/{tenant.pk}/")} == set()
    assert set(temp_files()) <= before_temp


@pytest.mark.django_db(transaction=True)
def test_usage_counts_referenced_blobs_once_and_the_quota_admits_up_to_it(artifact_backend, owner, tenant):
    tenant_services.tenant_update(tenant=tenant, actor=None, quota_storage_bytes=8)
    tenant.refresh_from_db()
    path = run_path(owner, tenant)
    upload(owner, tenant, f"{path}/a", b"1234")
    upload(owner, tenant, f"{path}/b", b"1234")  # the same blob: counted once
    upload(owner, tenant, f"{path}/c", b"5678")
    assert tenant_usage(tenant)["storage_bytes"] == 8
    with pytest.raises(QuotaExceeded):
        upload(owner, tenant, f"{path}/d", b"9")
    # An unreferenced blob (its path deleted) does not count.
    services.artifact_delete(principal=principal(owner, tenant), path=f"{path}/c")
    assert tenant_usage(tenant)["storage_bytes"] == 4


@pytest.mark.django_db
def test_the_model_quota_refuses_the_next_model(owner, tenant):
    tenant_services.tenant_update(tenant=tenant, actor=None, quota_models=1)
    me = principal(owner, tenant)
    registry_services.registered_model_create(principal=me, name="one")
    with pytest.raises(QuotaExceeded):
        registry_services.registered_model_create(principal=me, name="two")


@pytest.mark.django_db
def test_the_versions_per_model_quota_refuses_the_next_version_of_that_model_only(owner, tenant):
    tenant_services.tenant_update(tenant=tenant, actor=None, quota_versions_per_model=2)
    me = principal(owner, tenant)
    path = "mlflow-artifacts:/" + run_path(owner, tenant)
    a = registry_services.registered_model_create(principal=me, name="a")
    b = registry_services.registered_model_create(principal=me, name="b")
    for _ in range(2):
        registry_services.model_version_create(principal=me, model=a, source=path)
    with pytest.raises(QuotaExceeded) as exc:
        registry_services.model_version_create(principal=me, model=a, source=path)
    assert exc.value.code == "QUOTA_EXCEEDED"
    registry_services.model_version_create(principal=me, model=b, source=path)
    tenant.refresh_from_db()
    usage = tenant_usage(tenant)
    assert usage["models"] == 2
    assert usage["max_versions_in_a_model"] == 2
    assert usage["quota_versions_per_model"] == 2


@pytest.mark.django_db
def test_the_versions_per_model_quota_is_validated_by_tenant_update(tenant):
    from config.errors import InvalidParameter

    with pytest.raises(InvalidParameter):
        tenant_services.tenant_update(tenant=tenant, actor=None, quota_versions_per_model=-1)


@pytest.mark.django_db
def test_a_refused_version_over_quota_answers_403_quota_exceeded_over_mlflow(api, owner, tenant):
    tenant_services.tenant_update(tenant=tenant, actor=None, quota_versions_per_model=0)
    client = api(owner, tenant)
    path = "mlflow-artifacts:/" + run_path(owner, tenant)
    created = client.post("/t/acme/api/2.0/mlflow/registered-models/create", {"name": "m"}, format="json")
    assert created.status_code == 200, created.content
    response = client.post(
        "/t/acme/api/2.0/mlflow/model-versions/create", {"name": "m", "source": path}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error_code"] == "QUOTA_EXCEEDED"


@pytest.mark.django_db
def test_tenant_admins_read_the_usage(api, tenant_admin, owner, tenant):
    tenant_services.tenant_update(tenant=tenant, actor=None, quota_models=5, quota_storage_bytes=1000)
    registry_services.registered_model_create(principal=principal(owner, tenant), name="m")
    response = api(tenant_admin, tenant).get(USAGE)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "storage_bytes": 0,
        "quota_storage_bytes": 1000,
        "models": 1,
        "quota_models": 5,
        "max_versions_in_a_model": 0,
        "quota_versions_per_model": None,
    }


@pytest.mark.django_db
def test_members_and_viewers_are_refused_the_usage(api, owner, viewer, tenant):
    assert api(owner, tenant).get(USAGE).status_code == 403
    assert api(viewer, tenant).get(USAGE).status_code == 403


@pytest.mark.django_db
def test_another_tenant_gets_404_for_the_usage(api, outsider, other_tenant, tenant):
    assert api(outsider, other_tenant).get(USAGE).status_code == 404


@pytest.mark.django_db
def test_platform_admins_see_usage_read_only_and_edit_the_versions_quota_in_the_tenant_admin(
    client, django_user_model, tenant
):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "root-pw-123")
    client.force_login(admin)
    page = client.get(f"/admin/tenants/tenant/{tenant.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Storage used (bytes)" in body
    assert 'name="quota_versions_per_model"' in body
    assert 'name="usage_storage_bytes"' not in body  # read-only: not a form field
