"""MLflow's JSON shapes parsed into the typed values tracking services take, and `Call`'s string accessors."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import cast

import pytest
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from config.errors import InvalidParameter
from registry.mlflow_api import payloads
from registry.mlflow_api.base import Call
from tenants.access import Principal


def test_tags_arrive_as_a_dict_whatever_shape_the_client_sent():
    assert payloads.parse_tags([{"key": "a", "value": "1"}, {"key": "a", "value": "2"}, {"key": "b"}]) == {
        "a": "2",
        "b": "",
    }
    assert payloads.parse_tags({"flag": True, "n": 3}) == {"flag": "true", "n": "3"}
    assert payloads.parse_tags(None) == {}


@pytest.mark.parametrize("tags", ["a=b", [["a", "b"]], [{"value": "v"}], [{"key": 5, "value": "v"}]])
def test_it_refuses_tags_that_are_not_key_value_objects(tags):
    with pytest.raises(InvalidParameter):
        payloads.parse_tags(tags)


def test_metric_values_accept_mlflows_strings_for_nan_and_infinity():
    assert math.isnan(payloads.parse_double("NaN"))
    assert payloads.parse_double("-Infinity") == -math.inf
    assert payloads.parse_double(3) == 3.0
    with pytest.raises(InvalidParameter):
        payloads.parse_double(10**400)
    with pytest.raises(InvalidParameter):
        payloads.parse_double(True)


def test_a_batch_is_parsed_with_mlflows_limits_and_key_rules():
    metrics, params, tags = payloads.parse_batch(
        [{"key": "auc", "value": 0.5, "timestamp": 1, "step": 2}] * 2,
        [{"key": "lr", "value": 0.1}],
        [{"key": "team", "value": "a"}],
    )
    assert [(m.key, m.value, m.timestamp, m.step) for m in metrics] == [("auc", 0.5, 1, 2)]
    assert (params, tags) == ({"lr": "0.1"}, {"team": "a"})
    with pytest.raises(InvalidParameter, match="at most 100 params"):
        payloads.parse_batch([], [{"key": f"p{i}", "value": "v"} for i in range(101)], [])
    with pytest.raises(InvalidParameter, match="Duplicate parameter keys"):
        payloads.parse_batch([], [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}], [])
    with pytest.raises(InvalidParameter, match="must not resolve to other names"):
        payloads.parse_batch([], [], [{"key": "a/../b", "value": "v"}])


def test_integers_out_of_int64_range_are_refused():
    assert payloads.optional_int("", "start_time") is None
    assert payloads.parse_int("12", "step") == 12
    with pytest.raises(InvalidParameter):
        payloads.parse_int(2**63, "step")


def call_with(body: dict) -> Call:
    factory = APIRequestFactory()
    request = Request(factory.post("/x", body, format="json"), parsers=[JSONParser()])
    return Call(request, cast(Principal, SimpleNamespace(tenant=None, user=None)), {})


def test_a_required_string_parameter_is_never_none():
    call = call_with({"name": "exp", "number": 7, "empty": ""})
    assert call.string("name") == "exp"
    assert call.string("number") == "7"
    with pytest.raises(InvalidParameter, match="Missing value for required parameter 'empty'"):
        call.string("empty")
    with pytest.raises(InvalidParameter, match="Missing value for required parameter 'absent'"):
        call.string("absent")


def test_an_optional_string_parameter_falls_back_to_its_default():
    call = call_with({"name": "exp", "flag": True})
    assert call.optional_string("absent") is None
    assert call.optional_string("absent", default="") == ""
    assert call.optional_string("missing", "name") == "exp"
    with pytest.raises(InvalidParameter, match="expected a string"):
        call.optional_string("flag")
