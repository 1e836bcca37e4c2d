"""Malformed input of any kind is a 4xx with a stable error code, never a 5xx (the MLflow client retries 5xx for
minutes). Each test pins a bug found by fuzzing a live Modelgate (bench/fuzz_mlflow_api.py, schemathesis on the
native API): the input that used to reach the database or `int()` as a 500, and the answer it gets now."""

from __future__ import annotations

import json
from types import SimpleNamespace
from urllib.parse import quote

import pytest

from accounts import services as account_services
from config.errors import InvalidParameter
from registry import selectors as registry_selectors
from registry import services as registry_services
from tenants.access import principal_for
from tests.helpers import client_for, issue

MLFLOW = "/t/acme/api/2.0/mlflow"
NATIVE = "/t/acme/api/v1"
ARTIFACTS = "/t/acme/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def client(owner, tenant):
    return client_for(issue(owner, tenant))


@pytest.fixture
def objects(client):
    """An experiment, a run and a registered model to aim the malformed requests at."""
    experiment_id = _ok(client.post(f"{MLFLOW}/experiments/create", {"name": "exp"}, format="json"))[
        "experiment_id"
    ]
    run = _ok(client.post(f"{MLFLOW}/runs/create", {"experiment_id": experiment_id}, format="json"))
    _ok(client.post(f"{MLFLOW}/registered-models/create", {"name": "churn"}, format="json"))
    return {"experiment_id": experiment_id, "run_id": run["run"]["info"]["run_id"], "model": "churn"}


def _ok(res) -> dict:
    assert res.status_code == 200, res.content
    return res.json()


def _client_error(res, status: int = 400, code: str = "INVALID_PARAMETER_VALUE") -> dict:
    assert res.status_code == status, (res.status_code, res.content)
    body = res.json()
    assert body["error_code"] == code, body
    return body


def _raw(client, method: str, url: str, raw: bytes | str, **extra):
    return getattr(client, method)(url, data=raw, content_type="application/json", **extra)


def _fill(value, objects):
    if isinstance(value, str):
        return value.replace("EID", objects["experiment_id"]).replace("RID", objects["run_id"])
    if isinstance(value, list):
        return [_fill(v, objects) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, objects) for k, v in value.items()}
    return value


# --- JSON nested too deeply: RecursionError in the decoder was a 500 ---------------------------------------------

DEEP_BODIES = [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000]


@pytest.mark.parametrize("raw", DEEP_BODIES, ids=["array", "object"])
def test_a_json_body_nested_thousands_deep_is_a_400_on_the_mlflow_api(client, objects, raw):
    _client_error(_raw(client, "post", f"{MLFLOW}/runs/search", raw))
    _client_error(_raw(client, "delete", f"{MLFLOW}/registered-models/delete", raw))


@pytest.mark.parametrize("raw", DEEP_BODIES, ids=["array", "object"])
def test_a_json_body_nested_thousands_deep_is_a_400_on_the_native_api(client, objects, raw):
    _client_error(_raw(client, "post", f"{NATIVE}/models/", raw))
    _client_error(_raw(client, "put", f"{NATIVE}/models/churn/permissions", raw))


def test_json_nested_deeper_than_any_mlflow_request_is_refused_before_it_is_walked(client, objects):
    raw = f'{{"run_id": "{objects["run_id"]}", "tags": ' + "[" * 100 + "]" * 100 + "}"
    assert "nested" in _client_error(_raw(client, "post", f"{MLFLOW}/runs/log-batch", raw))["message"]


# --- lone surrogates ("\ud800", valid JSON, not encodable as UTF-8): UnicodeEncodeError in the driver was a 500 --

SURROGATE_CASES = [
    ("post", "registered-models/create", {"name": "\ud800"}),
    ("post", "registered-models/create", {"name": "ok", "tags": [{"key": "\ud800", "value": "v"}]}),
    ("patch", "registered-models/update", {"name": "churn", "description": "a\ud800"}),
    ("post", "registered-models/set-tag", {"name": "churn", "key": "k", "value": "\ud800"}),
    ("post", "registered-models/alias", {"name": "churn", "alias": "\ud800", "version": "1"}),
    ("post", "model-versions/create", {"name": "churn", "source": "runs:/RID/\ud800"}),
    ("post", "experiments/create", {"name": "\ud800"}),
    ("post", "experiments/set-experiment-tag", {"experiment_id": "EID", "key": "k", "value": "\ud800"}),
    ("post", "runs/create", {"experiment_id": "EID", "run_name": "\ud800"}),
    ("post", "runs/set-tag", {"run_id": "RID", "key": "k", "value": "\ud800"}),
    ("post", "runs/update", {"run_id": "\ud800", "status": "FINISHED"}),
    ("post", "runs/log-batch", {"run_id": "RID", "params": [{"key": "\ud800", "value": "v"}]}),
    ("post", "runs/delete-tag", {"run_id": "RID", "key": "\ud800"}),
    ("post", "logged-models", {"experiment_id": "EID", "model_type": "\ud800"}),
    ("post", "runs/search", {"experiment_ids": ["EID"], "run_view_type": "\ud800"}),
    ("post", "runs/search", {"experiment_ids": ["EID"], "\ud800": 1}),
]


@pytest.mark.parametrize("method,path,body", SURROGATE_CASES)
def test_a_lone_surrogate_anywhere_in_an_mlflow_body_is_a_400(client, objects, method, path, body):
    raw = json.dumps(_fill(body, objects))  # ensure_ascii: the surrogate travels as the escape \ud800
    res = _client_error(_raw(client, method, f"{MLFLOW}/{path}", raw))
    assert "Unicode" in res["message"]


def test_an_error_message_quoting_a_lone_surrogate_is_still_rendered():
    with pytest.raises(InvalidParameter) as caught:
        registry_services.validate_alias("bad\ud800")
    assert "\\ud800" in caught.value.message
    caught.value.message.encode("utf-8")


# --- NUL, which PostgreSQL refuses in text: a DataError was a 500 --------------------------------------------------

NUL_CASES = [
    ("get", "registered-models/get", {"name": "a\x00b"}),
    ("get", "registered-models/alias", {"name": "churn", "alias": "a\x00"}),
    ("get", "model-versions/get", {"name": "\x00", "version": "1"}),
    ("patch", "registered-models/update", {"name": "churn", "description": "\x00"}),
    ("post", "registered-models/set-tag", {"name": "churn", "key": "k", "value": "a\x00b"}),
    ("post", "registered-models/rename", {"name": "a\x00b", "new_name": "x"}),
    ("post", "model-versions/create", {"name": "churn", "source": "runs:/RID/model", "run_link": "\x00"}),
    ("post", "model-versions/create", {"name": "churn", "source": "runs:/RID/model", "description": "\x00"}),
    ("post", "model-versions/create", {"name": "churn", "source": "runs:/RID/model", "run_id": "a\x00"}),
    ("post", "model-versions/create", {"name": "churn", "source": "runs:/\x00/model"}),
    ("post", "experiments/update", {"experiment_id": "EID", "new_name": "a\x00"}),
    ("post", "runs/log-batch", {"run_id": "RID", "tags": [{"key": "ok", "value": "\x00"}]}),
]


@pytest.mark.parametrize("method,path,body", NUL_CASES)
def test_a_nul_anywhere_in_an_mlflow_request_is_a_400(client, objects, method, path, body):
    body = _fill(body, objects)
    if method == "get":
        res = client.get(f"{MLFLOW}/{path}", body)
    else:
        res = getattr(client, method)(f"{MLFLOW}/{path}", body, format="json")
    res = _client_error(res)
    assert "NUL" in res["message"]


def test_registry_services_refuse_nul_themselves_whatever_the_route(owner, tenant, objects):
    """The MLflow layer refuses NUL up front; the services still check what they store (admin, commands, tasks)."""
    token, _secret = account_services.token_issue(user=owner, tenant=tenant)
    principal = principal_for(SimpleNamespace(tenant_slug=tenant.slug, method="POST"), owner, token)
    model = registry_selectors.model_get(principal, "churn")
    with pytest.raises(InvalidParameter):
        registry_services.registered_model_update(principal=principal, model=model, description="a\x00b")
    with pytest.raises(InvalidParameter):
        registry_services.registered_model_set_tag(principal=principal, model=model, key="k", value="\x00")
    with pytest.raises(InvalidParameter):
        registry_services.model_version_create(principal=principal, model=model, source="runs:/x/\x00")
    with pytest.raises(InvalidParameter):
        registry_services.validate_model_name("a\ud800")


def test_native_lookups_with_nul_in_the_path_name_nothing(client, objects):
    for url in [
        "models/a%00b",
        "models/a%00b/versions/1",
        "models/a%00b/resolve?alias=x",
        "models/churn/aliases/a%00b",
        "models/a%00b/permissions",
    ]:
        _client_error(client.get(f"{NATIVE}/{url}"), 404, "RESOURCE_DOES_NOT_EXIST")


def test_native_list_filters_with_nul_are_400s(client, objects):
    _client_error(client.get(f"{NATIVE}/models/", {"tag": "a\x00:b"}))
    _client_error(client.get(f"{NATIVE}/experiments/", {"name": "\x00"}))


# --- digits that str.isdigit() accepts and int() refuses ("²", "٣"): ValueError was a 500 --------------------------


def test_non_ascii_digits_in_mlflow_ids_are_client_errors(client, objects):
    _client_error(
        client.get(f"{MLFLOW}/experiments/get", {"experiment_id": "²"}), 404, "RESOURCE_DOES_NOT_EXIST"
    )
    _client_error(
        client.post(f"{MLFLOW}/runs/create", {"experiment_id": "٣"}, format="json"),
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    _client_error(
        client.post(
            f"{MLFLOW}/model-versions/create",
            {"name": "churn", "source": "mlflow-artifacts:/²/x"},
            format="json",
        )
    )


@pytest.mark.parametrize("path", ["²/a.txt", "_registry/²/³/x", "_registry/1/²/x", "٣/RID/artifacts/x"])
def test_non_ascii_digits_in_artifact_paths_are_404s(client, objects, path):
    path = _fill(path, objects)
    _client_error(client.get(f"{ARTIFACTS}/{quote(path)}"), 404, "RESOURCE_DOES_NOT_EXIST")
    _client_error(client.get(ARTIFACTS, {"path": path}), 404, "RESOURCE_DOES_NOT_EXIST")


def test_non_ascii_or_overlong_digits_in_native_preconditions_are_400s(client, objects):
    _client_error(client.get(f"{NATIVE}/models/churn/resolve", {"version": "²"}))
    _client_error(client.get(f"{NATIVE}/models/churn/resolve", {"version": "9" * 5000}))
    for header in ["²", '"٣"', "9" * 5000]:
        _client_error(
            client.put(
                f"{NATIVE}/models/churn/aliases/champ", {"version": 1}, format="json", HTTP_IF_MATCH=header
            )
        )


# --- infinite numbers (1e400 parses as inf): int(inf) raised OverflowError, a 500 ----------------------------------

# MLflow routes these two searches for GET only (test_search_methods.py): their parameters go in the query string.
GET_ONLY_SEARCHES = ("registered-models/search", "model-versions/search")


@pytest.mark.parametrize(
    "path",
    [
        "registered-models/search",
        "model-versions/search",
        "experiments/search",
        "runs/search",
        "logged-models/search",
    ],
)
def test_an_infinite_max_results_is_a_400(client, objects, path):
    for literal in ("1e400", "Infinity", "-Infinity", "NaN"):
        if path in GET_ONLY_SEARCHES:
            _client_error(client.get(f"{MLFLOW}/{path}", {"max_results": literal}))
            continue
        raw = f'{{"experiment_ids": ["{objects["experiment_id"]}"], "max_results": {literal}}}'
        _client_error(_raw(client, "post", f"{MLFLOW}/{path}", raw))


def test_an_infinite_expected_version_is_a_400_on_the_native_api(client, objects):
    _client_error(
        _raw(
            client, "put", f"{NATIVE}/models/churn/aliases/champ", '{"version": 1, "expected_version": 1e400}'
        )
    )


# --- what was already refused, kept that way -----------------------------------------------------------------------

ALREADY_REFUSED = [
    ("post", "runs/set-tag", {"run_id": "RID", "key": "k" * 300, "value": "v"}),
    ("post", "runs/log-batch", {"run_id": "RID", "tags": [{"key": "k" * 251, "value": "v"}]}),
    ("post", "registered-models/set-tag", {"name": "churn", "key": "k" * 251, "value": "v"}),
    ("post", "experiments/set-experiment-tag", {"experiment_id": "EID", "key": "k" * 300, "value": "v"}),
    ("post", "runs/log-metric", {"run_id": "RID", "key": "m", "value": 1, "timestamp": 1, "step": 2**63}),
    ("post", "runs/log-metric", {"run_id": "RID", "key": "m", "value": 1, "timestamp": 2**64}),
    (
        "post",
        "runs/log-batch",
        {"run_id": "RID", "metrics": [{"key": "m", "value": 1, "timestamp": -(2**63) - 1}]},
    ),
    ("post", "runs/update", {"run_id": "RID", "end_time": 10**30}),
    ("post", "runs/create", {"experiment_id": "EID", "start_time": 2**63}),
    ("post", "runs/create", {"experiment_id": "EID", "run_name": "r" * 251}),
    ("post", "experiments/create", {"name": "e" * 501}),
    ("post", "registered-models/create", {"name": "m" * 257}),
]


@pytest.mark.parametrize("method,path,body", ALREADY_REFUSED)
def test_oversized_values_and_integers_beyond_bigint_are_400s(client, objects, method, path, body):
    _client_error(getattr(client, method)(f"{MLFLOW}/{path}", _fill(body, objects), format="json"))


@pytest.mark.parametrize(
    "raw", ["[1, 2]", '"name"', "42", "null", "{", "not json", '{"name": "\xe9"}'.encode("latin-1")]
)
def test_a_body_that_is_not_a_json_object_is_a_400(client, objects, raw):
    _client_error(_raw(client, "post", f"{MLFLOW}/registered-models/create", raw))


# --- a '%' in a list filter: django-filter formats the error message with `%`, a TypeError was a 500 ---------------


@pytest.mark.parametrize("query", [{"tag": "50%"}, {"tag": "%s%d"}, {"stage": "100%"}, {"stage": "%(x)s"}])
def test_a_percent_sign_in_a_bad_list_filter_is_a_400(client, objects, query):
    body = _client_error(client.get(f"{NATIVE}/models/", query))
    assert next(iter(query.values())) in body["message"]
    if "stage" in query:
        _client_error(client.get(f"{NATIVE}/models/churn/versions/", query))


# --- the native API answers what its OpenAPI schema says ------------------------------------------------------------


def test_the_tenant_list_matches_its_documented_shape(client, django_user_model, tenant):
    """The schema documented a bare array; the endpoint answers `{"tenants": [...]}` (found by schemathesis)."""
    schema = client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/tenants/"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert list(schema["components"]["schemas"][ref]["properties"]) == ["tenants"]
    assert "403" in operation["responses"]
    admin = client_for(None)
    admin.force_login(django_user_model.objects.create_superuser(username="root", password="root-pw-123"))
    assert [t["slug"] for t in admin.get("/api/v1/tenants/").json()["tenants"]] == ["acme"]


# --- a NUL in the tenant segment of the URL: the tenant lookup was a DataError, a 500 -------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/t/a%00b/api/v1/me",
        "/t/%00/api/2.0/mlflow/experiments/search",
        "/t/acme%00/api/2.0/mlflow-artifacts/artifacts?path=1",
        "/t/%00/api/v1/models/",
    ],
)
def test_a_nul_in_the_tenant_segment_names_no_tenant(client, url):
    _client_error(client.get(url), 404, "RESOURCE_DOES_NOT_EXIST")


# --- a body over DATA_UPLOAD_MAX_MEMORY_SIZE: Django's HTML 400 page had no error code ------------------------------


def test_a_body_over_the_upload_limit_is_a_json_400(client, objects, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    raw = json.dumps({"name": "x" * 2000})
    body = _client_error(_raw(client, "post", f"{MLFLOW}/experiments/create", raw))
    assert "1000 bytes" in body["message"]
    _client_error(_raw(client, "post", f"{NATIVE}/models/", raw))


# --- a forged page token whose offset is past bigint: OFFSET out of range was a database error, a 500 --------------


@pytest.mark.parametrize(
    "path",
    [
        "registered-models/search",
        "model-versions/search",
        "experiments/search",
        "runs/search",
        "logged-models/search",
    ],
)
def test_a_page_token_with_an_offset_beyond_bigint_is_a_400(client, objects, path):
    import base64

    for offset in (10**30, 2**63, -1):
        token = base64.b64encode(json.dumps({"offset": offset}).encode()).decode()
        if path in GET_ONLY_SEARCHES:
            _client_error(client.get(f"{MLFLOW}/{path}", {"page_token": token}))
            continue
        body = {"experiment_ids": [objects["experiment_id"]], "page_token": token}
        _client_error(client.post(f"{MLFLOW}/{path}", body, format="json"))
    token = base64.b64encode(json.dumps({"offset": 10**30}).encode()).decode()
    _client_error(
        client.get(
            f"{MLFLOW}/metrics/get-history",
            {"run_id": objects["run_id"], "metric_key": "m", "page_token": token},
        )
    )


# --- a metric value that is an integer too large for a double: float(int) raised OverflowError, a 500 --------------


def test_a_metric_value_beyond_double_range_is_a_400(client, objects):
    huge = "9" * 400  # a JSON integer literal: json gives an int, and float() of it overflows
    rid = objects["run_id"]
    for path, raw in [
        ("runs/log-metric", f'{{"run_id": "{rid}", "key": "m", "value": {huge}, "timestamp": 1}}'),
        (
            "runs/log-batch",
            f'{{"run_id": "{rid}", "metrics": [{{"key": "m", "value": -{huge}, "timestamp": 1}}]}}',
        ),
    ]:
        assert "double" in _client_error(_raw(client, "post", f"{MLFLOW}/{path}", raw))["message"]
    # A float literal past the range is infinity, as JSON parsers (and MLflow) read it: kept, like any ±inf.
    _ok(
        _raw(
            client,
            "post",
            f"{MLFLOW}/runs/log-metric",
            f'{{"run_id": "{rid}", "key": "m", "value": 1e400, "timestamp": 1}}',
        )
    )
