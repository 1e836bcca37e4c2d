"""The hot write path stays a fixed number of SQL statements: log-batch whatever the number of metrics, log-metric,
runs/create and model-versions/create (issue 9, "Performance"). A budget that grows means a per-row query crept in."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry import services
from tests.helpers import MLFLOW_API, client_for, issue, make_logged_model, principal
from tests.helpers import mlflow_create_experiment as make_experiment
from tests.helpers import mlflow_create_run as make_run
from tests.helpers import mlflow_post as post

pytestmark = pytest.mark.django_db

ALL_SCOPES = ["read", "write", "promote", "admin"]


@pytest.fixture
def mlflow(owner, tenant):
    return client_for(issue(owner, tenant, ALL_SCOPES))


def _batch(rid: str, n: int, start: int = 0) -> dict:
    return {
        "run_id": rid,
        "metrics": [
            {"key": f"m{i % 50}", "value": float(i), "timestamp": 1000 + i, "step": start + i}
            for i in range(start, start + n)
        ],
    }


def _count(fn) -> int:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured.captured_queries)


def test_a_100_metric_log_batch_costs_as_many_statements_as_a_1_metric_one(mlflow):
    rid = make_run(mlflow, make_experiment(mlflow))
    post(mlflow, "runs/log-batch", _batch(rid, 1))  # warm-up: caches, the token's last-used time
    one = _count(lambda: post(mlflow, "runs/log-batch", _batch(rid, 1, start=10)))
    hundred = _count(lambda: post(mlflow, "runs/log-batch", _batch(rid, 100, start=100)))
    thousand = _count(lambda: post(mlflow, "runs/log-batch", _batch(rid, 1000, start=1000)))
    assert one == hundred == thousand, (one, hundred, thousand)


def test_a_100_metric_log_batch_stays_under_its_statement_budget(mlflow, django_assert_max_num_queries):
    rid = make_run(mlflow, make_experiment(mlflow))
    post(mlflow, "runs/log-batch", _batch(rid, 1))
    # The caller's token, tenant, role and teams (4), the run (1), the history insert and the latest-point upsert
    # (2); the test's transaction adds a savepoint and its release (2). No run row lock, no per-metric statement.
    with django_assert_max_num_queries(9):
        post(mlflow, "runs/log-batch", _batch(rid, 100, start=100))


def test_log_metric_stays_under_its_statement_budget(mlflow, django_assert_max_num_queries):
    rid = make_run(mlflow, make_experiment(mlflow))
    post(mlflow, "runs/log-metric", {"run_id": rid, "key": "a", "value": 1.0, "timestamp": 1, "step": 0})
    with django_assert_max_num_queries(9):
        post(mlflow, "runs/log-metric", {"run_id": rid, "key": "a", "value": 2.0, "timestamp": 2, "step": 1})


def test_runs_create_stays_under_its_statement_budget(mlflow, django_assert_max_num_queries):
    eid = make_experiment(mlflow)
    make_run(mlflow, eid, name="warm-up")
    with django_assert_max_num_queries(19):
        make_run(mlflow, eid, name="measured", tags=[{"key": "t", "value": "1"}])


def test_model_version_create_stays_under_its_statement_budget(
    mlflow, owner, tenant, django_assert_max_num_queries
):
    p = principal(owner, tenant, ALL_SCOPES)
    services.registered_model_create(principal=p, name="churn")
    logged = make_logged_model(tenant)
    body = {"name": "churn", "source": f"models:/{logged.model_id}"}
    post(mlflow, "model-versions/create", body)  # warm-up
    # The caller's token (1), the model (1), the logged model (1), the webhooks (1, read before the lock), the model
    # row lock + number + version insert (1), the audit append (1), the answer's tags and aliases (2: inside the
    # test's transaction the worker cannot run, so the version is answered as created); the test's transaction adds
    # a savepoint and its release (2). Outside a test: BEGIN and COMMIT instead, and the answer is one statement.
    with django_assert_max_num_queries(10):
        created = post(mlflow, "model-versions/create", body)
    assert created["model_version"]["version"] == "2"


def _version_create_statements(owner, tenant) -> list[str]:
    p = principal(owner, tenant, ALL_SCOPES)
    model = services.registered_model_create(principal=p, name="locks")
    logged = make_logged_model(tenant)
    services.model_version_create(principal=p, model=model, source=f"models:/{logged.model_id}")  # warm-up
    with CaptureQueriesContext(connection) as captured:
        services.model_version_create(principal=p, model=model, source=f"models:/{logged.model_id}")
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"].upper()]


def test_a_version_creation_holds_the_model_row_lock_for_two_statements(owner, tenant):
    """Every creation of a model queues on its row lock until COMMIT: only the lock-and-insert statement and the
    audit append run under it; the webhooks were read before it."""
    statements = _version_create_statements(owner, tenant)
    locking = next(
        i
        for i, sql in enumerate(statements)
        if sql.startswith('WITH m AS (UPDATE "registry_registeredmodel"')
    )
    webhooks = next(i for i, sql in enumerate(statements) if '"registry_webhook"' in sql)
    assert webhooks < locking, statements
    assert len(statements[locking + 1 :]) == 1 and statements[-1].startswith("WITH h AS (UPDATE"), statements


def test_registration_in_the_worker_stays_under_its_statement_budget(owner, tenant):
    p = principal(owner, tenant, ALL_SCOPES)
    model = services.registered_model_create(principal=p, name="worker")
    logged = make_logged_model(tenant, files={"model.pkl": b"x", "MLmodel": b"y"})
    version = services.model_version_create(principal=p, model=model, source=f"models:/{logged.model_id}")
    with CaptureQueriesContext(connection) as captured:
        assert services.registration_finalize(version_id=version.pk) == "READY"
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"].upper()]
    # The version row lock, the source's entries, the webhooks, manifest + status + NOTIFY, the audit append.
    assert len(statements) == 5, statements
    assert statements[-1].startswith("WITH h AS (UPDATE"), statements  # the chain head is taken last
    version.refresh_from_db()
    assert version.files.count() == 2 and version.manifest_sha256


def test_the_budgets_are_not_met_by_refusing_the_call(mlflow, viewer, tenant):
    """A refused call is cheap: the budgets above only mean something because those calls succeed (and this one,
    from a read-only caller, must not)."""
    rid = make_run(mlflow, make_experiment(mlflow))
    theirs = client_for(issue(viewer, tenant))
    res = theirs.post(f"{MLFLOW_API}/runs/log-batch", _batch(rid, 5), format="json")
    assert res.status_code == 403, res.content
