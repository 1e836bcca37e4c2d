"""Races on PostgreSQL: threads, each with its own database connection, hit the registry services at the same
moment (a barrier releases them together). The model row lock must make every outcome exact."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from config.errors import Conflict
from registry import services
from registry.models import ModelAlias, ModelVersion, Stage
from tests.helpers import drain_registrations, make_logged_model, principal

pytestmark = pytest.mark.django_db(transaction=True)

ALL_SCOPES = ["read", "write", "promote", "admin"]


def run_in_threads(n: int, work: Callable[[int], object]) -> list[object]:
    """Run `work(i)` in n threads released together; returns each result or the exception it raised."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc
        finally:
            connection.close()  # each thread opened its own connection

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


@pytest.fixture(autouse=True)
def _drained(worker):
    """The versions created here enqueue registrations: let the worker finish them before the database is flushed."""
    yield
    drain_registrations()


@pytest.fixture
def p_owner(owner, tenant):
    return principal(owner, tenant, ALL_SCOPES)


@pytest.fixture
def model(p_owner):
    return services.registered_model_create(principal=p_owner, name="race")


def ready_versions(p, model, tenant, n: int) -> list[ModelVersion]:
    logged = make_logged_model(tenant)
    versions = []
    for _ in range(n):
        v = services.model_version_create(principal=p, model=model, source=f"models:/{logged.model_id}")
        services.registration_finalize(version_id=v.pk)
        v.refresh_from_db()
        versions.append(v)
    return versions


def test_twenty_parallel_version_creations_get_versions_one_to_twenty(p_owner, model, tenant):
    logged = make_logged_model(tenant)
    results = run_in_threads(
        20,
        lambda i: (
            services.model_version_create(
                principal=p_owner, model=model, source=f"models:/{logged.model_id}"
            ).version
        ),
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    assert sorted(results) == list(range(1, 21))
    assert sorted(ModelVersion.objects.filter(model=model).values_list("version", flat=True)) == list(
        range(1, 21)
    )
    model.refresh_from_db()
    assert model.last_version == 20


def test_parallel_archiving_promotions_leave_exactly_one_production_version(p_owner, model, tenant):
    versions = ready_versions(p_owner, model, tenant, 8)
    results = run_in_threads(
        8,
        lambda i: services.model_version_transition_stage(
            principal=p_owner, version=versions[i], stage="Production", archive_existing_versions=True
        ),
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    stages = list(ModelVersion.objects.filter(model=model).values_list("stage", flat=True))
    assert stages.count(Stage.PRODUCTION) == 1
    assert stages.count(Stage.ARCHIVED) == 7


def test_parallel_alias_moves_with_a_precondition_have_one_winner_and_conflicts(p_owner, model, tenant):
    versions = ready_versions(p_owner, model, tenant, 9)
    services.alias_set(principal=p_owner, model=model, alias="champion", version=1)
    results = run_in_threads(
        8,
        lambda i: services.alias_set(
            principal=p_owner,
            model=model,
            alias="champion",
            version=versions[i + 1].version,
            expected_version=1,
        ),
    )
    winners = [r for r in results if isinstance(r, ModelAlias)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(winners) == 1, results
    assert len(conflicts) == 7, results
    alias = ModelAlias.objects.get(model=model, alias="champion")
    assert alias.version_id == winners[0].version_id


def test_parallel_creations_of_one_model_name_give_one_model_and_already_exists(p_owner):
    from config.errors import AlreadyExists

    results = run_in_threads(6, lambda i: services.registered_model_create(principal=p_owner, name="same"))
    assert sum(1 for r in results if isinstance(r, AlreadyExists)) == 5
    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
