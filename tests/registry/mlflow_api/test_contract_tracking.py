"""Contract tests: replay the tracking, logged-model and artifact exchanges recorded from MLflow 3.17.2's own
server (/work/shared/mlflow/traffic-3.17.2.jsonl, or $MLFLOW_TRAFFIC) against Modelgate, in order, and check that
every response has the recorded status and the recorded shape: the same keys with the same JSON types, ids rewritten
to the ones Modelgate handed out. Volatile values (timestamps, ids, users, sizes) are not compared."""

from __future__ import annotations

import json
import re
from typing import Any

from tests.helpers import client_for, issue, recorded_traffic

TRACKING_PATH = re.compile(
    r"^/t/acme/api/2\.0/(mlflow/(experiments|runs|metrics|logged-models)/?|mlflow-artifacts/artifacts)"
)
# Fields MLflow 3.17.2 sends that are optional on the wire (the client copes without them).
OPTIONAL_KEYS = {"workspace", "sqlstate", "error_class"}
ID_KEYS = ("run_id", "run_uuid", "model_id", "source_run_id")


def exchanges() -> list[dict[str, Any]]:
    rows = []
    for line in recorded_traffic().read_text().splitlines():
        record = json.loads(line)
        if "method" in record and TRACKING_PATH.match(record["path"]):
            rows.append(record)
    return rows


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        # Tag lists are compared by element shape, not length: in the recording, the registry (not replayed here)
        # adds `mlflow.modelVersions` to a logged model when a version is created from it.
        return {
            k: (
                sorted({json.dumps(shape(t)) for t in v}) if k == "tags" and isinstance(v, list) else shape(v)
            )
            for k, v in value.items()
            if k not in OPTIONAL_KEYS
        }
    if isinstance(value, list):
        return [shape(v) for v in value]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def learn_ids(recorded: Any, ours: Any, mapping: dict[str, str]) -> None:
    """Walk both responses side by side; every id field teaches recorded id → our id."""
    if isinstance(recorded, dict) and isinstance(ours, dict):
        for key, value in recorded.items():
            if key in ID_KEYS and isinstance(value, str) and isinstance(ours.get(key), str):
                mapping.setdefault(value, ours[key])
            elif key in ours:
                learn_ids(value, ours[key], mapping)
    elif isinstance(recorded, list) and isinstance(ours, list):
        for r, o in zip(recorded, ours, strict=False):
            learn_ids(r, o, mapping)


def rewrite(text: str, mapping: dict[str, str]) -> str:
    for old, new in mapping.items():
        text = text.replace(old, new)
    return text


def test_recorded_tracking_exchanges_replay_with_the_same_status_and_shape(owner, tenant):
    client = client_for(issue(owner, tenant))
    mapping: dict[str, str] = {}
    replayed = 0
    for record in exchanges():
        method, path = record["method"], rewrite(record["path"], mapping)
        label = f"{method} {record['path']}"
        if method == "PUT":
            raw = record["req_body"]
            match = re.match(r"<(\d+) bytes>", raw) if isinstance(raw, str) else None
            data = b"x" * int(match.group(1)) if match else json.dumps(raw).encode()
            res = client.generic(
                "PUT", path, data, content_type=record["req_ct"] or "application/octet-stream"
            )
        elif method == "GET":
            res = client.get(path)
        else:
            body = rewrite(json.dumps(record["req_body"]), mapping)
            res = client.generic(method, path, body, content_type="application/json")
        assert res.status_code == record["status"], (label, res.status_code, res.content[:500])
        replayed += 1
        recorded = record["resp_body"]
        if "/mlflow-artifacts/artifacts/" in path:  # file bytes (a download) or an empty upload reply
            if method == "GET":
                assert res["Content-Disposition"].startswith("attachment"), label
            continue
        ours = res.json()
        if record["status"] >= 400:
            assert ours["error_code"] == recorded["error_code"], label
            assert isinstance(ours["message"], str)
            continue
        learn_ids(recorded, ours, mapping)
        assert shape(ours) == shape(recorded), (label, json.dumps(ours), json.dumps(recorded))
    assert replayed >= 40
    assert any(old.startswith("m-") for old in mapping)  # a logged model was created and followed


def test_the_recorded_exchanges_are_refused_for_another_tenant_and_a_viewer(
    owner, tenant, viewer, outsider, other_tenant
):
    """The first writes of the recording, sent with a viewer's token and another tenant's token."""
    records = exchanges()
    create = next(r for r in records if r["path"].endswith("experiments/create"))
    theirs = client_for(issue(outsider, other_tenant))
    res = theirs.generic(
        "POST", create["path"], json.dumps(create["req_body"]), content_type="application/json"
    )
    assert res.status_code == 404 and res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    res = client_for(issue(viewer, tenant)).generic(
        "POST", create["path"], json.dumps(create["req_body"]), content_type="application/json"
    )
    assert res.status_code == 403 and res.json()["error_code"] == "PERMISSION_DENIED"
