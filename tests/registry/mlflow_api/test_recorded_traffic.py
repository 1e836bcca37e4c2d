"""Where the contract tests find the traffic recorded from a real MLflow server, and that they fail (never skip)
without it: a skipped contract test would let a wire-format regression through unnoticed."""

from __future__ import annotations

import pytest

from tests.helpers import TRAFFIC_NAME, recorded_traffic


def test_a_missing_recording_fails_the_test_naming_where_it_was_looked_for(monkeypatch, tmp_path):
    missing = tmp_path / TRAFFIC_NAME
    monkeypatch.setenv("MLFLOW_TRAFFIC_FILE", str(missing))
    with pytest.raises(
        pytest.fail.Exception, match="recorded MLflow traffic the contract tests replay is missing"
    ):
        recorded_traffic()
    with pytest.raises(pytest.fail.Exception, match=str(missing)):
        recorded_traffic()


def test_an_explicit_recording_is_used_as_given(monkeypatch, tmp_path):
    given = tmp_path / "elsewhere.jsonl"
    given.write_text("{}\n")
    monkeypatch.delenv("MLFLOW_TRAFFIC_FILE", raising=False)
    monkeypatch.setenv("MLFLOW_TRAFFIC", str(given))
    assert recorded_traffic() == given


def test_without_configuration_the_shared_recording_is_found(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRAFFIC_FILE", raising=False)
    monkeypatch.delenv("MLFLOW_TRAFFIC", raising=False)
    found = recorded_traffic()
    assert found.name == TRAFFIC_NAME and found.stat().st_size > 0
