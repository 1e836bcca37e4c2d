"""Dataset (and model) inputs of runs: MLflow's `runs/log-inputs`, `Run.inputs` in runs/get and runs/search,
the `datasets.name/digest/context` search filters, the audit trail, permissions, isolation and MLflow's limits;
and the real MLflow client's `mlflow.log_input` against a live server."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.audit import compute_hash
from registry.mlflow_api.payloads import parse_dataset_inputs
from registry.models import AuditEvent
from registry.tracking import services
from registry.tracking.models import Dataset, RunInput, RunInputTag
from tests.helpers import MLFLOW_API as API
from tests.helpers import client_for, issue, principal
from tests.helpers import mlflow_create_experiment as make_experiment
from tests.helpers import mlflow_create_run as make_run
from tests.helpers import mlflow_get as get
from tests.helpers import mlflow_post as post

SCHEMA = '{"mlflow_colspec": [{"type": "double", "name": "x", "required": true}]}'


@pytest.fixture
def mlflow(owner, tenant):
    return client_for(issue(owner, tenant))


def dataset_input(
    name="train",
    digest="d1",
    context="training",
    *,
    source="s3://bucket/train.csv",
    schema=None,
    profile=None,
    tags=None,
) -> dict:
    dataset = {"name": name, "digest": digest, "source_type": "s3", "source": f'{{"uri": "{source}"}}'}
    if schema is not None:
        dataset["schema"] = schema
    if profile is not None:
        dataset["profile"] = profile
    all_tags = ([{"key": "mlflow.data.context", "value": context}] if context else []) + (tags or [])
    return {"tags": all_tags, "dataset": dataset} if all_tags else {"dataset": dataset}


def log_inputs(client, run_id, datasets, models=None, status=200, **extra):
    body = {"run_id": run_id, "datasets": datasets}
    if models is not None:
        body["models"] = models
    return post(client, "runs/log-inputs", body, status=status, **extra)


def test_a_run_shows_the_datasets_it_logged_in_get_and_search(mlflow):
    eid = make_experiment(mlflow)
    rid = make_run(mlflow, eid)
    assert (
        log_inputs(
            mlflow,
            rid,
            [
                dataset_input(
                    schema=SCHEMA, profile='{"num_rows": 2}', tags=[{"key": "split", "value": "a"}]
                ),
                dataset_input("holdout", "d2", context=None),
            ],
        )
        == {}
    )
    inputs = get(mlflow, "runs/get", {"run_id": rid})["run"]["inputs"]
    assert inputs == {
        "dataset_inputs": [
            {
                "tags": [{"key": "mlflow.data.context", "value": "training"}, {"key": "split", "value": "a"}],
                "dataset": {
                    "name": "train",
                    "digest": "d1",
                    "source_type": "s3",
                    "source": '{"uri": "s3://bucket/train.csv"}',
                    "schema": SCHEMA,
                    "profile": '{"num_rows": 2}',
                },
            },
            {
                "dataset": {
                    "name": "holdout",
                    "digest": "d2",
                    "source_type": "s3",
                    "source": '{"uri": "s3://bucket/train.csv"}',
                }
            },
        ]
    }
    found = post(mlflow, "runs/search", {"experiment_ids": [eid]})["runs"]
    assert [r["inputs"] for r in found] == [inputs]

    native = get(mlflow, f"runs/{rid}", prefix="/t/acme/api/v1")
    assert native["datasets"][0] == {
        "name": "train",
        "digest": "d1",
        "source_type": "s3",
        "source": '{"uri": "s3://bucket/train.csv"}',
        "context": "training",
        "tags": {"mlflow.data.context": "training", "split": "a"},
    }
    assert native["datasets"][1]["context"] is None


def test_a_dataset_is_one_row_per_experiment_and_relogging_it_changes_nothing(mlflow, tenant):
    eid = make_experiment(mlflow)
    first, second = make_run(mlflow, eid, "a"), make_run(mlflow, eid, "b")
    # The same (name, digest) twice in one request is one input: the first wins, as in MLflow.
    log_inputs(mlflow, first, [dataset_input(), dataset_input(context="eval")])
    log_inputs(mlflow, first, [dataset_input(context="eval", source="s3://elsewhere")])
    log_inputs(mlflow, second, [dataset_input(context="eval", source="s3://elsewhere")])
    other = make_run(mlflow, make_experiment(mlflow, "exp-b"))
    log_inputs(mlflow, other, [dataset_input()])

    datasets = Dataset.objects.filter(tenant=tenant).order_by("id")
    assert [(d.experiment.number, d.name, d.digest) for d in datasets] == [
        (1, "train", "d1"),
        (2, "train", "d1"),
    ]
    assert (
        datasets[0].source == '{"uri": "s3://bucket/train.csv"}'
    )  # the description it was first logged with
    assert RunInput.objects.filter(dataset=datasets[0]).count() == 2
    contexts = {
        r: get(mlflow, "runs/get", {"run_id": r})["run"]["inputs"]["dataset_inputs"][0]["tags"][0]["value"]
        for r in (first, second)
    }
    assert contexts == {first: "training", second: "eval"}

    events = AuditEvent.objects.filter(tenant=tenant, action="run.inputs_logged").order_by("seq")
    assert events.count() == 3  # the re-log of `first` changed nothing, so it is not an event
    assert events[0].actor_name == "olivia"
    assert events[0].after == {
        "experiment_id": "1",
        "datasets": [
            {
                "name": "train",
                "digest": "d1",
                "source_type": "s3",
                "source": '{"uri": "s3://bucket/train.csv"}',
                "context": "training",
                "tags": {"mlflow.data.context": "training"},
            }
        ],
    }
    assert all(e.hash == compute_hash(e) for e in events)


def test_run_search_filters_on_dataset_name_digest_and_context(mlflow):
    eid = make_experiment(mlflow)
    a = make_run(mlflow, eid, "a", start_time=3)
    b = make_run(mlflow, eid, "b", start_time=2)
    c = make_run(mlflow, eid, "c", start_time=1)
    log_inputs(mlflow, a, [dataset_input("train", "aa11"), dataset_input("Eval-Set", "bb22", "eval")])
    log_inputs(mlflow, b, [dataset_input("train", "cc33", "testing")])
    post(mlflow, "runs/log-metric", {"run_id": b, "key": "auc", "value": 0.9, "timestamp": 1})

    def search(flt):
        runs = post(mlflow, "runs/search", {"experiment_ids": [eid], "filter": flt}).get("runs", [])
        return [r["info"]["run_name"] for r in runs]

    assert search("datasets.name = 'train'") == ["a", "b"]
    assert search("dataset.name = 'Eval-Set'") == ["a"]
    assert search("datasets.name != 'train'") == [
        "a"
    ]  # a has another dataset; c has none, so it never matches
    assert search("datasets.name LIKE 'Eval%'") == ["a"]
    assert search("datasets.name LIKE 'eval%'") == []
    assert search("datasets.name ILIKE 'eval%'") == ["a"]
    assert search("datasets.digest IN ('cc33', 'zz')") == ["b"]
    assert search("datasets.digest NOT IN ('aa11', 'bb22')") == ["b"]
    assert search("datasets.context = 'training'") == ["a"]
    assert search("datasets.context IN ('eval', 'testing')") == ["a", "b"]
    assert search("datasets.context != 'eval'") == ["a", "b"]
    assert search("datasets.name = 'train' AND datasets.context = 'testing' AND metrics.auc > 0.5") == ["b"]
    assert search("datasets.name = 'nope'") == []
    assert c not in search("datasets.name LIKE '%'")
    err = post(
        mlflow, "runs/search", {"experiment_ids": [eid], "filter": "datasets.source = 'x'"}, status=400
    )
    assert err["error_code"] == "INVALID_PARAMETER_VALUE"


def test_search_loads_inputs_in_a_fixed_number_of_queries(mlflow):
    eid = make_experiment(mlflow)

    def queries_for_search() -> int:
        with CaptureQueriesContext(connection) as ctx:
            post(mlflow, "runs/search", {"experiment_ids": [eid]})
        return len(ctx.captured_queries)

    for i in range(2):
        log_inputs(
            mlflow, make_run(mlflow, eid, f"r{i}"), [dataset_input(digest=f"x{i}"), dataset_input("b")]
        )
    few = queries_for_search()
    for i in range(2, 8):
        log_inputs(
            mlflow, make_run(mlflow, eid, f"r{i}"), [dataset_input(digest=f"x{i}"), dataset_input("b")]
        )
    assert queries_for_search() == few


def test_a_run_records_logged_models_as_inputs(mlflow, tenant, outsider, other_tenant):
    eid = make_experiment(mlflow)
    rid = make_run(mlflow, eid)
    model_id = post(mlflow, "logged-models", {"experiment_id": eid, "name": "base"})["model"]["info"][
        "model_id"
    ]
    log_inputs(mlflow, rid, [], models=[{"model_id": model_id}, {"model_id": model_id}])
    log_inputs(mlflow, rid, [], models=[{"model_id": model_id}])
    assert get(mlflow, "runs/get", {"run_id": rid})["run"]["inputs"] == {
        "model_inputs": [{"model_id": model_id}]
    }
    event = AuditEvent.objects.get(tenant=tenant, action="run.inputs_logged")
    assert event.after == {"experiment_id": "1", "models": [model_id]}

    assert (
        log_inputs(mlflow, rid, [], models=[{"model_id": "m-" + "0" * 32}], status=404)["error_code"]
        == "RESOURCE_DOES_NOT_EXIST"
    )
    # Another tenant's model is as missing as one that never existed.
    theirs = client_for(issue(outsider, other_tenant))
    their_eid = post(theirs, "experiments/create", {"name": "t"}, prefix="/t/globex/api/2.0/mlflow")[
        "experiment_id"
    ]
    their_model = post(
        theirs, "logged-models", {"experiment_id": their_eid, "name": "x"}, prefix="/t/globex/api/2.0/mlflow"
    )["model"]["info"]["model_id"]
    log_inputs(mlflow, rid, [], models=[{"model_id": their_model}], status=404)
    assert (
        log_inputs(mlflow, rid, [], models=[{"id": model_id}], status=400)["error_code"]
        == "INVALID_PARAMETER_VALUE"
    )


@pytest.mark.parametrize(
    "datasets",
    [
        "not-a-list",
        [{"name": "train"}],
        [{"dataset": {"digest": "d", "source_type": "s3", "source": "{}"}}],
        [{"dataset": {"name": "", "digest": "d", "source_type": "s3", "source": "{}"}}],
        [{"dataset": {"name": "n", "digest": "d", "source_type": "s3"}}],
        [{"dataset": {"name": "n", "source_type": "s3", "source": "{}"}}],
        [dataset_input("x" * 501)],
        [dataset_input(digest="d" * 37)],
        [{"dataset": {"name": "n", "digest": "d", "source_type": "s" * 37, "source": "{}"}}],
        [{"dataset": {"name": "n", "digest": "d", "source_type": "s3", "source": "s" * 65536}}],
        [dataset_input(schema="s" * 1048576)],
        [dataset_input("a\x00b")],
        [dataset_input(tags=[{"key": "k" * 256, "value": "v"}])],
        [dataset_input(context="c" * 501)],
        [dataset_input(tags=[{"key": "k"}])],
        [{"dataset": {"name": "n", "digest": "d", "source_type": "s3", "source": "{}"}, "tags": "x"}],
        [dataset_input(digest=str(i)) for i in range(1001)],
    ],
    ids=lambda d: repr(d)[:40],
)
def test_bad_dataset_inputs_are_refused_with_400(mlflow, tenant, datasets):
    rid = make_run(mlflow, make_experiment(mlflow))
    err = post(mlflow, "runs/log-inputs", {"run_id": rid, "datasets": datasets}, status=400)
    assert err["error_code"] == "INVALID_PARAMETER_VALUE"
    assert not Dataset.objects.filter(tenant=tenant).exists()


def test_the_limits_themselves_are_accepted(mlflow):
    rid = make_run(mlflow, make_experiment(mlflow))
    log_inputs(
        mlflow,
        rid,
        [
            dataset_input(
                "n" * 500, "d" * 36, "c" * 500, schema="s" * 1048575, tags=[{"key": "k" * 255, "value": ""}]
            )
        ],
    )
    dataset = get(mlflow, "runs/get", {"run_id": rid})["run"]["inputs"]["dataset_inputs"][0]["dataset"]
    assert len(dataset["name"]) == 500 and len(dataset["schema"]) == 1048575


def test_a_deleted_run_takes_no_inputs_and_a_missing_run_is_404(mlflow):
    rid = make_run(mlflow, make_experiment(mlflow))
    post(mlflow, "runs/delete", {"run_id": rid})
    assert log_inputs(mlflow, rid, [dataset_input()], status=400)["error_code"] == "INVALID_PARAMETER_VALUE"
    assert (
        log_inputs(mlflow, "0" * 32, [dataset_input()], status=404)["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    )
    assert (
        post(mlflow, "runs/log-inputs", {"datasets": []}, status=400)["error_code"]
        == "INVALID_PARAMETER_VALUE"
    )


def test_another_tenant_and_read_only_users_cannot_log_inputs(
    mlflow, tenant, viewer, owner, outsider, other_tenant
):
    eid = make_experiment(mlflow)
    rid = make_run(mlflow, eid)
    theirs = client_for(issue(outsider, other_tenant))
    for prefix, extra in (
        (API, {}),
        ("/api/2.0/mlflow", {"HTTP_X_MLFLOW_WORKSPACE": "acme"}),
        ("/t/globex/api/2.0/mlflow", {}),
    ):
        err = log_inputs(theirs, rid, [dataset_input()], status=404, prefix=prefix, **extra)
        assert err["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    for client in (client_for(issue(viewer, tenant)), client_for(issue(owner, tenant, ["read"]))):
        assert log_inputs(client, rid, [dataset_input()], status=403)["error_code"] == "PERMISSION_DENIED"
    assert not Dataset.objects.exists()

    # What was logged stays invisible to the other tenant, through search too.
    log_inputs(mlflow, rid, [dataset_input()])
    assert (
        post(
            theirs,
            "runs/search",
            {"experiment_ids": [eid], "filter": "datasets.name = 'train'"},
            prefix="/t/globex/api/2.0/mlflow",
        )
        == {}
    )


def test_the_service_checks_permission_itself_and_audits_what_it_recorded(owner, viewer, tenant):
    from config.errors import PermissionDenied
    from registry.tracking.models import Run

    me = principal(owner, tenant)
    experiment = services.experiment_create(principal=me, name="svc")
    run = services.run_create(principal=me, experiment=experiment, run_name="r", start_time=None, tags=None)
    with pytest.raises(PermissionDenied):
        services.run_log_inputs(
            principal=principal(viewer, tenant), run=run, datasets=parse_dataset_inputs([dataset_input()])
        )
    services.run_log_inputs(
        principal=me, run=run, datasets=parse_dataset_inputs([dataset_input(context="training")])
    )
    tag = RunInputTag.objects.get(run_input__run=run)
    assert (tag.key, tag.value) == ("mlflow.data.context", "training")
    assert list(Run.objects.filter(pk=run.pk, dataset_inputs__dataset__name="train")) == [run]
    event = AuditEvent.objects.get(tenant=tenant, action="run.inputs_logged")
    assert event.object_id == str(run.pk) and event.after["datasets"][0]["context"] == "training"


@pytest.mark.mlflow_client
@pytest.mark.django_db(transaction=True)
def test_the_mlflow_client_logs_a_dataset_and_finds_the_run_by_it(mlflow_env, owner, tenant):
    import mlflow
    import pandas as pd
    from mlflow import MlflowClient

    mlflow_env(issue(owner, tenant))
    mlflow.set_experiment("datasets")
    df = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [0, 1, 1]})
    dataset = mlflow.data.from_pandas(df, source="s3://bucket/train.csv", name="train")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
    with mlflow.start_run():
        mlflow.log_param("other", "1")

    client = MlflowClient()
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.name == "train" and inputs[0].dataset.digest == dataset.digest
    assert inputs[0].dataset.source_type == "s3" and "s3://bucket/train.csv" in inputs[0].dataset.source
    assert inputs[0].dataset.schema and inputs[0].dataset.profile
    assert [(t.key, t.value) for t in inputs[0].tags] == [("mlflow.data.context", "training")]

    experiment_id = run.info.experiment_id
    found = client.search_runs([experiment_id], filter_string="datasets.name = 'train'")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    assert found[0].inputs.dataset_inputs[0].dataset.digest == dataset.digest
    found = mlflow.search_runs(
        [experiment_id], filter_string="datasets.context = 'training'", output_format="list"
    )
    assert [r.info.run_id for r in found] == [run.info.run_id]


@pytest.mark.django_db(transaction=True)
def test_a_dataset_first_logged_by_two_runs_at_once_is_one_row(owner, tenant):
    """A writer that inserted the dataset row but has not committed yet makes the second writer wait, then reuse
    the row (ON CONFLICT DO NOTHING), instead of failing on the unique constraint."""
    import threading
    import time

    from django.db import close_old_connections, transaction

    me = principal(owner, tenant)
    experiment = services.experiment_create(principal=me, name="race")
    run = services.run_create(principal=me, experiment=experiment, run_name="second")
    inserted, release, errors = threading.Event(), threading.Event(), []

    def first_writer():
        try:
            with transaction.atomic():
                Dataset.objects.bulk_create(
                    [
                        Dataset(
                            tenant=tenant,
                            experiment=experiment,
                            name="train",
                            digest="d1",
                            source_type="s3",
                            source="{}",
                        )
                    ],
                    ignore_conflicts=True,
                )
                inserted.set()
                release.wait(10)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    def second_writer():
        try:
            services.run_log_inputs(principal=me, run=run, datasets=parse_dataset_inputs([dataset_input()]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()

    first = threading.Thread(target=first_writer)
    first.start()
    assert inserted.wait(10)
    second = threading.Thread(target=second_writer)
    second.start()
    time.sleep(0.5)
    assert second.is_alive()  # waiting on the first writer's uncommitted row
    release.set()
    first.join(10)
    second.join(10)
    assert errors == []
    dataset = Dataset.objects.get(experiment=experiment)
    assert dataset.source == "{}"  # the first writer's description
    assert list(RunInput.objects.filter(run=run).values_list("dataset_id", flat=True)) == [dataset.pk]
