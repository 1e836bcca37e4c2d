"""Names and paths cannot hide what they are: bidirectional controls (a right-to-left override shows
`evil\u202egnp.exe` as `evilexe.png`), other invisible format characters and control characters are refused with
a 400 in artifact paths, model names, aliases, tag keys, experiment names, run names and param/metric keys
(`config.validation.check_name`). Values (descriptions, tag values) keep their newlines and tabs; names in any
script are welcome."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.helpers import client_for, issue

MLFLOW = "/t/acme/api/2.0/mlflow"
ART = "/t/acme/api/2.0/mlflow-artifacts/artifacts"
RLO = "\u202e"


@pytest.fixture
def client(owner, tenant):
    return client_for(issue(owner, tenant))


@pytest.fixture
def objects(client):
    experiment_id = client.post(f"{MLFLOW}/experiments/create", {"name": "exp"}, format="json").json()[
        "experiment_id"
    ]
    run = client.post(f"{MLFLOW}/runs/create", {"experiment_id": experiment_id}, format="json").json()
    assert (
        client.post(f"{MLFLOW}/registered-models/create", {"name": "churn"}, format="json").status_code == 200
    )
    return {"experiment_id": experiment_id, "run_id": run["run"]["info"]["run_id"]}


def refused(res) -> str:
    assert res.status_code == 400, (res.status_code, res.content)
    body = res.json()
    assert body["error_code"] == "INVALID_PARAMETER_VALUE", body
    return body["message"]


@pytest.mark.parametrize(
    "char", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c", "\u200b", "\x85"]
)
def test_artifact_paths_with_bidi_or_invisible_characters_are_refused(client, objects, char):
    path = f"{objects['experiment_id']}/{objects['run_id']}/artifacts/evil{char}gnp.exe"
    message = refused(client.put(f"{ART}/{quote(path)}", data=b"x", content_type="application/octet-stream"))
    assert f"U+{ord(char):04X}" in message


def name_cases(objects):
    eid, rid = objects["experiment_id"], objects["run_id"]
    bad = f"a{RLO}b"
    return [
        ("registered-models/create", {"name": bad}),
        ("registered-models/rename", {"name": "churn", "new_name": bad}),
        ("registered-models/set-tag", {"name": "churn", "key": bad, "value": "v"}),
        ("registered-models/alias", {"name": "churn", "alias": bad, "version": "1"}),
        ("experiments/create", {"name": bad}),
        ("experiments/update", {"experiment_id": eid, "new_name": bad}),
        ("runs/create", {"experiment_id": eid, "run_name": bad}),
        ("runs/update", {"run_id": rid, "run_name": bad}),
        ("runs/log-parameter", {"run_id": rid, "key": bad, "value": "1"}),
        ("runs/log-metric", {"run_id": rid, "key": bad, "value": 1.0, "timestamp": 1, "step": 0}),
        ("runs/set-tag", {"run_id": rid, "key": bad, "value": "v"}),
    ]


def test_names_with_a_right_to_left_override_are_refused(client, objects):
    for path, body in name_cases(objects):
        method = client.post
        res = method(f"{MLFLOW}/{path}", body, format="json")
        refused(res)


def test_values_keep_newlines_and_tabs_and_names_in_any_script_are_accepted(client, objects):
    res = client.patch(
        f"{MLFLOW}/registered-models/update",
        {"name": "churn", "description": "line 1\n\tline 2"},
        format="json",
    )
    assert res.status_code == 200, res.content
    res = client.post(
        f"{MLFLOW}/registered-models/set-tag",
        {"name": "churn", "key": "k", "value": "a\nb\tc"},
        format="json",
    )
    assert res.status_code == 200, res.content
    for name in ["modèle-détection", "модель", "模型", "نموذج", "מודל"]:
        res = client.post(f"{MLFLOW}/registered-models/create", {"name": name}, format="json")
        assert res.status_code == 200, (name, res.content)
    res = client.post(
        f"{MLFLOW}/runs/create",
        {"experiment_id": objects["experiment_id"], "run_name": "प्रयोग"},
        format="json",
    )
    assert res.status_code == 200, res.content
    path = f"{objects['experiment_id']}/{objects['run_id']}/artifacts/données/模型.txt"
    res = client.put(f"{ART}/{quote(path)}", data=b"x", content_type="application/octet-stream")
    assert res.status_code == 200, res.content
