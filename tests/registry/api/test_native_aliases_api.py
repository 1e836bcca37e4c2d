"""The native registry API: aliases (with their preconditions) and resolve."""

from __future__ import annotations

import pytest

from .conftest import BASE, error_code

# --- aliases -------------------------------------------------------------------------------------------------------


def test_it_sets_gets_and_deletes_aliases(owner_api, churn):
    res = owner_api.put(f"{BASE}/models/churn/aliases/candidate", {"version": 3}, format="json")
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["alias"] == "candidate" and body["version"] == 3 and body["protected"] is False
    assert body["model_version"]["aliases"] == ["candidate"]
    res = owner_api.get(f"{BASE}/models/churn/aliases/champion")
    assert res.status_code == 200 and res.json()["version"] == 1 and res.json()["protected"] is True
    assert res["ETag"] == '"1"'
    assert owner_api.delete(f"{BASE}/models/churn/aliases/candidate").status_code == 204
    assert owner_api.get(f"{BASE}/models/churn/aliases/candidate").status_code == 404


def test_alias_moves_honour_expected_version(owner_api, churn):
    url = f"{BASE}/models/churn/aliases/champion"
    res = owner_api.put(url, {"version": 2, "expected_version": 3}, format="json")
    assert res.status_code == 409 and error_code(res) == "CONFLICT"
    res = owner_api.put(url, {"version": 2, "expected_version": ""}, format="json")  # must not exist yet
    assert res.status_code == 409
    assert owner_api.put(url, {"version": 2, "expected_version": 1}, format="json").status_code == 200
    res = owner_api.put(
        f"{BASE}/models/churn/aliases/fresh", {"version": 2, "expected_version": 0}, format="json"
    )
    assert res.status_code == 200
    assert owner_api.get(url).json()["version"] == 2


def test_alias_moves_honour_if_match_and_if_none_match(owner_api, churn):
    url = f"{BASE}/models/churn/aliases/champion"
    assert owner_api.put(url, {"version": 2}, format="json", HTTP_IF_MATCH='"3"').status_code == 409
    assert owner_api.put(url, {"version": 2}, format="json", HTTP_IF_NONE_MATCH="*").status_code == 409
    assert owner_api.delete(url, HTTP_IF_MATCH='"2"').status_code == 409
    assert owner_api.put(url, {"version": 2}, format="json", HTTP_IF_MATCH='"1"').status_code == 200
    assert owner_api.delete(url, HTTP_IF_MATCH='"2"').status_code == 204
    assert owner_api.put(url, {"version": 2}, format="json", HTTP_IF_MATCH="x").status_code == 400


@pytest.mark.parametrize(
    "alias,body,status",
    [
        ("latest", {"version": 1}, 400),
        ("v2", {"version": 1}, 400),
        ("bad alias!", {"version": 1}, 400),
        ("ok", {}, 400),
        ("ok", {"version": "x"}, 400),
        ("ok", {"version": 99}, 404),
        ("ok", {"version": 1, "expected_version": "abc"}, 400),
    ],
)
def test_it_rejects_bad_alias_moves(owner_api, churn, alias, body, status):
    res = owner_api.put(f"{BASE}/models/churn/aliases/{alias}", body, format="json")
    assert res.status_code == status, res.content


# --- resolve -------------------------------------------------------------------------------------------------------


def test_resolve_answers_the_contract_shape_by_alias_stage_and_version(owner_api, churn):
    by_alias = owner_api.get(f"{BASE}/models/churn/resolve?alias=champion")
    assert by_alias.status_code == 200, by_alias.content
    body = by_alias.json()
    assert {"name", "version", "stage", "aliases", "status", "download_uri", "manifest_sha256"} <= set(body)
    assert body["name"] == "churn" and str(body["version"]) == "1" and body["stage"] == "Production"
    assert (
        body["aliases"] == ["champion"] and body["status"] == "READY" and len(body["manifest_sha256"]) == 64
    )
    assert owner_api.get(f"{BASE}/models/churn/resolve?stage=production").json() == body
    assert owner_api.get(f"{BASE}/models/churn/resolve?version=1").json() == body
    assert str(owner_api.get(f"{BASE}/models/churn/resolve?stage=Staging").json()["version"]) == "2"


@pytest.mark.parametrize(
    "query,status",
    [
        ("", 400),
        ("alias=champion&stage=Production", 400),
        ("version=abc", 400),
        ("version=0", 400),
        ("stage=Live", 400),
        ("alias=nope", 404),
        ("version=99", 404),
        ("stage=Archived", 404),
    ],
)
def test_resolve_refuses_ambiguous_or_unknown_targets(owner_api, churn, query, status):
    res = owner_api.get(f"{BASE}/models/churn/resolve?{query}")
    assert res.status_code == status, res.content
    if query in ("", "alias=champion&stage=Production"):
        # One rule, in selectors.resolve, with one message for every caller.
        assert res.json() == {
            "error_code": "INVALID_PARAMETER_VALUE",
            "message": "Give exactly one of 'alias', 'stage' or 'version'.",
        }
