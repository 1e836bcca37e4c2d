"""Contract test: replay the registry exchanges recorded from a real MLflow 3.17.2 server
(`/work/shared/mlflow/traffic-3.17.2.jsonl`, wire-contract.md) against Modelgate and compare the answers.

Same requests, same logged model and run ids, a real Celery worker for registration (the recorded server answered
`READY` at once; so must we, quickly). Timestamps differ by nature; `user_id` is extra on our side; MLflow's
`sqlstate`/`error_class` are optional; and the download URI is ours by design (the immutable registry snapshot)."""

from __future__ import annotations

import json
import time

import pytest

from registry.models import RegisteredModel
from registry.tracking.models import Experiment, LoggedModel, LoggedModelStatus, Run
from tests.helpers import MODEL_FILES, client_for, issue, put_file, recorded_traffic

MODEL_ID = "m-9dd107ef29bb48d39b09b28242215640"
RUN_ID = "40a78d19a93a4138bf353c3a1b646ad1"
IGNORED = {"creation_timestamp", "last_updated_timestamp", "user_id", "sqlstate", "error_class"}


def registry_exchanges() -> list[tuple[str, dict]]:
    phase, out = "", []
    for line in recorded_traffic().read_text().splitlines():
        entry = json.loads(line)
        if "phase" in entry and "method" not in entry:
            phase = entry["phase"]
            continue
        if "/registered-models/" in entry["path"] or "/model-versions/" in entry["path"]:
            out.append((phase, entry))
    return out


def normalise(value):
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items() if k not in IGNORED}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    return value


def seed_tracking(tenant) -> None:
    """The recorded run and logged model, in experiment 1 of our tenant, with the model's files indexed."""
    ts = int(time.time() * 1000)
    experiment = Experiment.objects.create(
        tenant=tenant,
        number=1,
        name="churn",
        artifact_location="mlflow-artifacts:/1",
        creation_time=ts,
        last_update_time=ts,
    )
    run = Run.objects.create(
        run_id=RUN_ID,
        tenant=tenant,
        experiment=experiment,
        start_time=ts,
        artifact_uri=f"mlflow-artifacts:/1/{RUN_ID}/artifacts",
    )
    LoggedModel.objects.create(
        model_id=MODEL_ID,
        tenant=tenant,
        experiment=experiment,
        name="model",
        source_run=run,
        status=LoggedModelStatus.READY,
        artifact_uri=f"mlflow-artifacts:/1/models/{MODEL_ID}/artifacts",
        creation_timestamp=ts,
        last_updated_timestamp=ts,
    )
    for rel, content in MODEL_FILES.items():
        put_file(tenant, f"1/models/{MODEL_ID}/artifacts/{rel}", content)


@pytest.mark.django_db(transaction=True)
def test_recorded_registry_traffic_replays_with_the_same_answers(worker, tenant, tenant_admin):
    # A tenant admin without a team: the recorded server had no `owner_team` tag to show.
    seed_tracking(tenant)
    client = client_for(issue(tenant_admin, tenant))
    exchanges = registry_exchanges()
    assert len(exchanges) > 30
    for phase, ex in exchanges:
        body = None if ex["req_body"] == "<0 bytes>" else json.dumps(ex["req_body"])
        started = time.monotonic()
        if body is None:
            res = client.generic(ex["method"], ex["path"])
        else:
            res = client.generic(ex["method"], ex["path"], data=body, content_type="application/json")
        elapsed = time.monotonic() - started
        where = f"{phase}: {ex['method']} {ex['path']}"
        assert res.status_code == ex["status"], (where, res.content)
        expected = ex["resp_body"]
        if ex["path"].split("?")[0].endswith("/get-download-uri"):
            model = RegisteredModel.objects.get(tenant=tenant, name=res.wsgi_request.GET["name"])
            expected = {
                "artifact_uri": f"mlflow-artifacts:/_registry/{model.pk}/{res.wsgi_request.GET['version']}"
            }
        assert normalise(res.json()) == normalise(expected), where
        if ex["path"].endswith("/model-versions/create"):
            assert elapsed < 3, f"{where} took {elapsed:.2f}s to answer READY"
