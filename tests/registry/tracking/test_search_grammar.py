"""The search filter grammar: a filter string is parsed into data, validated per kind of search, never pasted into
SQL."""

from __future__ import annotations

import base64
import math

import pytest

from config.errors import InvalidParameter
from registry.search import (
    Clause,
    OrderBy,
    apply_like,
    decode_page_token,
    encode_page_token,
    like_match,
    parse_filter,
    parse_order_by,
    split_prompt_clause,
    string_q,
)


def test_it_parses_metric_param_tag_and_attribute_clauses():
    clauses = parse_filter(
        "metrics.auc > 0.9 AND params.lr = '0.01' AND tags.team != \"a\" AND attributes.status = 'FINISHED'",
        "runs",
    )
    assert clauses == [
        Clause("metric", "auc", ">", 0.9),
        Clause("param", "lr", "=", "0.01"),
        Clause("tag", "team", "!=", "a"),
        Clause("attribute", "status", "=", "FINISHED"),
    ]


def test_it_accepts_every_entity_prefix_mlflow_accepts():
    for text, entity in [
        ("metric.a = 1", "metric"),
        ("metrics.a = 1", "metric"),
        ("param.a = 'x'", "param"),
        ("parameters.a = 'x'", "param"),
        ("tag.a = 'x'", "tag"),
        ("attr.run_id = 'x'", "attribute"),
        ("run.run_id = 'x'", "attribute"),
        ("dataset.name = 'x'", "dataset"),
        ("datasets.digest = 'x'", "dataset"),
    ]:
        assert parse_filter(text, "runs")[0].entity == entity, text


def test_it_reads_quoted_keys_and_dotted_keys():
    assert parse_filter("tags.`mlflow.parentRunId` = 'abc'", "runs") == [
        Clause("tag", "mlflow.parentRunId", "=", "abc")
    ]
    assert parse_filter("params.\"my key\" = 'v'", "runs") == [Clause("param", "my key", "=", "v")]
    assert parse_filter("tags.mlflow.parentRunId = 'abc'", "runs") == [
        Clause("tag", "mlflow.parentRunId", "=", "abc")
    ]
    assert parse_filter("\"run name\" = 'r'", "runs") == [Clause("attribute", "run_name", "=", "r")]
    assert parse_filter("created >= 5", "runs") == [Clause("attribute", "start_time", ">=", 5)]


def test_it_reads_numbers_lists_and_nulls():
    assert parse_filter("metrics.loss <= -1.5e-3", "runs")[0].value == pytest.approx(-1.5e-3)
    assert parse_filter("attributes.start_time > 1700000000000", "runs")[0].value == 1700000000000
    assert parse_filter("run_id IN ('a', \"b\")", "runs") == [Clause("attribute", "run_id", "IN", ("a", "b"))]
    assert parse_filter("run_id not in ('a')", "runs") == [Clause("attribute", "run_id", "NOT IN", ("a",))]
    assert parse_filter("tags.x IS NULL and params.y is not null", "runs") == [
        Clause("tag", "x", "IS NULL", None),
        Clause("param", "y", "IS NOT NULL", None),
    ]
    assert parse_filter("name ilike '%Churn%'", "registered_models") == [
        Clause("attribute", "name", "ILIKE", "%Churn%")
    ]


def test_it_unescapes_doubled_quotes_in_values():
    assert parse_filter("tags.a = 'it''s'", "runs")[0].value == "it's"


def test_an_empty_filter_has_no_clauses():
    assert parse_filter("", "runs") == []
    assert parse_filter("   ", "runs") == []
    assert parse_filter(None, "runs") == []


def test_or_is_refused_with_mlflows_message():
    with pytest.raises(InvalidParameter) as exc:
        parse_filter("metrics.a > 1 OR metrics.b > 2", "runs")
    assert exc.value.message == "Invalid clause(s) in filter string: OR"
    assert exc.value.status == 400 and exc.value.code == "INVALID_PARAMETER_VALUE"


@pytest.mark.parametrize(
    "kind,text",
    [
        ("runs", "metrics.a LIKE '1'"),  # metrics are numeric
        ("runs", "metrics.a = 'x'"),  # and need a number
        ("runs", "params.a > 'x'"),  # params are strings
        ("runs", "params.a = 1"),  # and need quotes
        ("runs", "status IN ('a')"),  # IN only for run_id
        ("runs", "start_time LIKE '1%'"),
        ("runs", "unknown_attr = 'x'"),
        ("runs", "dataset.bogus = 'x'"),
        ("runs", "foo.bar = 'x'"),
        ("runs", "metrics.a <> 1"),
        ("runs", "metrics.a > 1 AND"),
        ("runs", "metrics.a"),
        ("runs", "(metrics.a > 1)"),
        ("runs", "metrics.a > 1 metrics.b > 2"),
        ("runs", "run_id IN ()"),
        ("runs", "run_id IN ('a' 'b')"),
        ("runs", "params.a = 'unterminated"),
        ("registered_models", "current_stage = 'Production'"),
        ("registered_models", "tags.a IS NULL"),
        ("registered_models", "metrics.a > 1"),
        ("model_versions", "current_stage = 'Production'"),
        ("model_versions", "version_number LIKE '1'"),
        ("experiments", "metrics.a > 1"),
        ("experiments", "name IN ('a')"),
        ("logged_models", "name IN ('a')"),
        ("logged_models", "datasets.name = 'x'"),
    ],
)
def test_it_refuses_what_the_kind_does_not_allow(kind, text):
    with pytest.raises(InvalidParameter):
        parse_filter(text, kind)


def test_each_kind_accepts_its_own_identifiers():
    assert parse_filter("experiment_id IN ('1','2') AND creation_time > 5 AND tags.a = 'b'", "experiments")
    assert parse_filter("name = 'm' AND tag.t LIKE 'x%'", "registered_models")
    assert parse_filter(
        "name = 'm' AND version_number >= 2 AND run_id IN ('r') AND source_path LIKE '%a'", "model_versions"
    )
    assert parse_filter(
        "name = 'model' AND metrics.acc > 0.5 AND params.a = 'b' AND creation_time > 0", "logged_models"
    )[3] == Clause("attribute", "creation_timestamp", ">", 0)


@pytest.mark.parametrize(
    "text",
    [
        "params.a = '' ; DROP TABLE tracking_run; --'",
        "params.a = 'x'; DROP TABLE tracking_run",
        "params.a = 'x' UNION SELECT * FROM accounts_user",
        "params.a = 'x' -- comment",
        "params.a = 'x' /* c */",
        "tags.`a` = 'b' AND tags.`x` = 'y\x00'",
        "metrics.a > 1; SELECT 1",
        "params.a = 'x' AND 1=1",
        "1 = 1",
        "tags.a = 'b' OR 1=1",
        "a" * 30_000,
    ],
)
def test_hostile_filters_are_refused(text):
    with pytest.raises(InvalidParameter):
        parse_filter(text, "runs")


@pytest.mark.django_db
def test_injection_attempts_inside_quotes_are_just_values_that_match_nothing(tenant):
    from registry.tracking.models import Experiment

    clauses = parse_filter("name = 'x'' OR ''1''=''1' AND name LIKE '%'' OR 1=1 --'", "experiments")
    assert clauses[0].value == "x' OR '1'='1"
    qs = Experiment.objects.filter(tenant=tenant)
    for clause in clauses:
        qs = qs.filter(string_q("name", clause.op, clause.value))
    assert list(qs) == []
    assert Experiment.objects.filter(tenant=tenant).count() == 1  # Default is still there


def test_the_prompt_clause_means_exclude_prompts():
    clauses = parse_filter(
        "name LIKE '%churn%' AND tag.`mlflow.prompt.is_prompt` != 'true'", "registered_models"
    )
    rest, exclude = split_prompt_clause(clauses)
    assert exclude is True
    assert rest == [Clause("attribute", "name", "LIKE", "%churn%")]
    rest, exclude = split_prompt_clause(
        parse_filter("tags.`mlflow.prompt.is_prompt` = 'true'", "registered_models")
    )
    assert exclude is False and len(rest) == 1


def test_order_by_parses_entities_directions_and_aliases():
    assert parse_order_by(
        ["metrics.auc DESC", "params.lr", "tags.`a b` asc", "attributes.start_time ASC", "created DESC"],
        "runs",
    ) == [
        OrderBy("metric", "auc", False),
        OrderBy("param", "lr", True),
        OrderBy("tag", "a b", True),
        OrderBy("attribute", "start_time", True),
        OrderBy("attribute", "start_time", False),
    ]
    assert parse_order_by(["name", "timestamp DESC"], "registered_models") == [
        OrderBy("attribute", "name", True),
        OrderBy("attribute", "last_updated_timestamp", False),
    ]
    assert parse_order_by(["version_number DESC"], "model_versions") == [
        OrderBy("attribute", "version_number", False)
    ]


@pytest.mark.parametrize(
    "kind,item",
    [
        ("runs", "metrics.auc DOWN"),
        ("runs", "metrics.auc DESC extra"),
        ("runs", "bogus"),
        ("runs", "datasets.name"),
        ("registered_models", "tags.a"),
        ("registered_models", "current_stage"),
        ("experiments", "metrics.a"),
        ("runs", "start_time; DROP TABLE x"),
    ],
)
def test_bad_order_by_is_refused(kind, item):
    with pytest.raises(InvalidParameter):
        parse_order_by([item], kind)


def test_like_patterns_become_safe_lookups():
    assert apply_like("churn") == ("exact", "churn")
    assert apply_like("churn%") == ("startswith", "churn")
    assert apply_like("%churn") == ("endswith", "churn")
    assert apply_like("%ch.urn%", case_sensitive=False) == ("icontains", "ch.urn")
    assert apply_like("%") == ("isnull", False)
    lookup, regex = apply_like("a_b%c.*(d)")
    assert lookup == "regex"
    assert regex == r"^a.b.*c\.\*\(d\)$"
    assert apply_like(r"100\%") == ("exact", "100%")


def test_like_matching_in_python_follows_sql():
    assert like_match("churn-model", "%churn%")
    assert like_match("Churn", "c%", case_sensitive=False)
    assert not like_match("Churn", "c%")
    assert like_match("a.b", "a_b")
    assert not like_match("axxb", "a_b")
    assert not like_match("a(b", "a.b")
    assert not like_match(None, "%")


@pytest.mark.django_db
def test_like_lookups_run_on_postgresql(tenant):
    from registry.tracking.models import Experiment

    qs = Experiment.objects.filter(tenant=tenant)
    assert qs.filter(string_q("name", "LIKE", "Def%")).count() == 1
    assert qs.filter(string_q("name", "LIKE", "def%")).count() == 0
    assert qs.filter(string_q("name", "ILIKE", "def%")).count() == 1
    assert qs.filter(string_q("name", "LIKE", "D_f(ult")).count() == 0
    assert qs.filter(string_q("name", "LIKE", "D_fa%t")).count() == 1
    assert qs.filter(string_q("name", "LIKE", "%")).count() == 1
    assert qs.filter(string_q("name", "NOT IN", ("Default",))).count() == 0


def test_page_tokens_round_trip_and_bad_ones_are_400():
    assert decode_page_token(encode_page_token(25)) == 25
    assert decode_page_token("eyJvZmZzZXQiOiAyfQ==") == 2  # MLflow's own token
    assert decode_page_token(None) == 0 and decode_page_token("") == 0
    for bad in [
        "garbage!",
        "bm90IGpzb24=",
        base64.b64encode(b'{"offset": -1}').decode(),
        "e30=",
        "W10=",
        "eyJvZmZzZXQiOiAieCJ9",
        "x" * 5000,
    ]:
        with pytest.raises(InvalidParameter):
            decode_page_token(bad)


def test_numbers_keep_their_value():
    assert math.isclose(parse_filter("metrics.a = .5", "runs")[0].value, 0.5)
    assert parse_filter("metrics.a = 3", "runs")[0].value == 3.0
