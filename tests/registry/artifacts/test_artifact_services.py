"""The artifact services and selectors: an upload streams to storage and then records its Blob and ArtifactEntry;
refused uploads store nothing; deletes drop entries and keep blobs; nothing crosses tenants."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from accounts import services as account_services
from config.errors import NotFound, PermissionDenied
from registry.artifacts import selectors, services, storage
from registry.tracking import services as tracking_services
from registry.tracking.models import ArtifactEntry, Blob
from tenants.access import principal_for


def principal(user, tenant, scopes=None):
    token, _secret = account_services.token_issue(user=user, tenant=tenant, scopes=scopes)
    return principal_for(SimpleNamespace(tenant_slug=tenant.slug, method="PUT"), user, token)


@pytest.fixture
def run_path(owner, tenant):
    me = principal(owner, tenant)
    experiment = tracking_services.experiment_create(principal=me, name="art")
    run = tracking_services.run_create(principal=me, experiment=experiment, run_name="r")
    return f"{experiment.number}/{run.run_id}/artifacts"


def test_an_upload_is_stored_under_its_digest_and_recorded(owner, tenant, run_path, artifact_backend):
    me = principal(owner, tenant)
    entry = services.artifact_upload(
        principal=me, path=f"{run_path}/model.pkl", read=io.BytesIO(b"weights").read
    )
    blob = Blob.objects.for_tenant(tenant).get(sha256=entry.sha256)
    assert blob.storage_key == storage.blob_key(tenant.pk, entry.sha256)
    assert blob.storage_key in artifact_backend.keys()
    assert artifact_backend.read(blob.storage_key) == b"weights"
    assert selectors.artifact_entry(me, f"{run_path}/model.pkl") == entry
    assert selectors.artifact_list(me, run_path) == [{"path": "model.pkl", "is_dir": False, "file_size": 7}]


def test_a_viewer_is_refused_before_anything_is_stored(viewer, tenant, run_path, artifact_backend):
    before = artifact_backend.keys()
    with pytest.raises(PermissionDenied):
        services.artifact_upload(
            principal=principal(viewer, tenant), path=f"{run_path}/x.bin", read=io.BytesIO(b"data").read
        )
    assert artifact_backend.keys() == before


def test_another_tenant_cannot_reach_the_artifacts(outsider, other_tenant, run_path):
    with pytest.raises(NotFound):
        services.artifact_upload(
            principal=principal(outsider, other_tenant), path=f"{run_path}/x.bin", read=io.BytesIO(b"d").read
        )
    with pytest.raises(NotFound):
        selectors.artifact_experiment(principal(outsider, other_tenant), run_path, "read")


def test_deleting_a_directory_drops_its_entries_and_keeps_the_blobs(
    owner, tenant, run_path, artifact_backend
):
    me = principal(owner, tenant)
    for name in ("a.txt", "sub/b.txt"):
        services.artifact_upload(principal=me, path=f"{run_path}/{name}", read=io.BytesIO(name.encode()).read)
    assert services.artifact_delete(principal=me, path=run_path) == 2
    assert not ArtifactEntry.objects.for_tenant(tenant).exists()
    assert Blob.objects.for_tenant(tenant).count() == 2
    assert {b.storage_key for b in Blob.objects.for_tenant(tenant)} <= artifact_backend.blob_keys()
