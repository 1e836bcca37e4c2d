"""Creating a version waits for the worker without polling (the worker's NOTIFY wakes the request), keeps working
when the listening connection is lost, and the worker keeps its database connection across tasks."""

from __future__ import annotations

import hashlib
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import selectors, services
from registry.models import ModelVersion, VersionStatus
from registry.tracking.models import ArtifactEntry, Blob
from tests.helpers import make_logged_model, principal

pytestmark = pytest.mark.django_db(transaction=True)

ALL_SCOPES = ["read", "write", "promote", "admin"]


@pytest.fixture
def p_owner(owner, tenant):
    return principal(owner, tenant, ALL_SCOPES)


@pytest.fixture
def model(p_owner):
    return services.registered_model_create(principal=p_owner, name="reg")


def big_logged_model(tenant, files: int):
    """A logged model with many files: its registration takes the worker a noticeable while (hundreds of ms), long
    enough for polling to show up as many reads of the version row."""
    logged = make_logged_model(tenant, files={})
    prefix = f"{logged.experiment.number}/models/{logged.model_id}/artifacts"
    digest = hashlib.sha256(logged.model_id.encode()).hexdigest()
    blob = Blob.objects.create(tenant=tenant, sha256=digest, size=1)
    ArtifactEntry.objects.bulk_create(
        ArtifactEntry(tenant=tenant, path=f"{prefix}/f{i:05d}", blob=blob, sha256=digest, size=1)
        for i in range(files)
    )
    return logged


def version_reads(captured) -> int:
    return sum(1 for q in captured.captured_queries if '"registry_modelversion"' in q["sql"])


def test_the_wait_reads_the_version_at_most_twice_however_long_the_worker_takes(
    worker, p_owner, model, tenant
):
    # Once, so the listener of this process is up before the measured creation (as in a serving web process).
    warm = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{make_logged_model(tenant).model_id}"
    )
    assert selectors.wait_until_registered(warm, timeout=30).status == VersionStatus.READY
    logged = big_logged_model(tenant, files=4000)
    version = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{logged.model_id}"
    )
    started = time.monotonic()
    with CaptureQueriesContext(connection) as captured:
        version = selectors.wait_until_registered(version, timeout=30)
    elapsed = time.monotonic() - started
    assert version.status == VersionStatus.READY, version.status_message
    # Polling (20 ms growing to 100 ms) would read the row ~10 times a second; the notification needs one read,
    # plus the once-a-second safety re-check.
    assert version_reads(captured) <= 2 + int(elapsed), (version_reads(captured), elapsed)


def test_a_lost_listening_connection_falls_back_to_polling(worker, p_owner, model, tenant):
    warm = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{make_logged_model(tenant).model_id}"
    )
    selectors.wait_until_registered(warm, timeout=30)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN modelgate_version_ready%%'"
        )
        assert cursor.fetchone() is not None, "no listening connection was open"
    version = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{make_logged_model(tenant).model_id}"
    )
    started = time.monotonic()
    version = selectors.wait_until_registered(version, timeout=30)
    assert version.status == VersionStatus.READY
    assert time.monotonic() - started < 10


def test_inside_a_transaction_the_wait_answers_at_once(worker, p_owner, model, tenant):
    version = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{make_logged_model(tenant).model_id}"
    )
    from django.db import transaction

    with transaction.atomic():
        started = time.monotonic()
        same = selectors.wait_until_registered(version, timeout=5)
        assert time.monotonic() - started < 0.5
    assert same.status == VersionStatus.PENDING_REGISTRATION


def test_the_worker_keeps_its_database_connection_across_registrations(worker, p_owner, model, tenant):
    def sessions() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
            return int(cursor.fetchone()[0])

    warm = services.model_version_create(
        principal=p_owner, model=model, source=f"models:/{make_logged_model(tenant).model_id}"
    )
    selectors.wait_until_registered(warm, timeout=30)
    before = sessions()
    for _ in range(12):
        version = services.model_version_create(
            principal=p_owner, model=model, source=f"models:/{make_logged_model(tenant).model_id}"
        )
        assert selectors.wait_until_registered(version, timeout=30).status == VersionStatus.READY
    # Connections opened before `before` may be counted late (PostgreSQL flushes a backend's statistics lazily):
    # the worker's two processes, this process's listener. A connection per task would be 12 more.
    assert sessions() - before <= 5
    assert ModelVersion.objects.filter(model=model, status=VersionStatus.READY).count() == 13
