"""The junk: values, list items, bodies, filters, page tokens and query strings sent in place of valid input."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

# Values of the wrong type, shape or size for any field.
BAD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -(2**63) - 1,
    2**63,
    2**64,
    10**30,
    10**400,
    -(10**400),
    1e308,
    -1e308,
    math.nan,
    math.inf,
    "",
    " ",
    "x" * 251,
    "x" * 501,
    "x" * 70_000,
    "\x00",
    "a\x00b",
    "\ud800",
    "é☃😀",
    "NaN",
    "-Infinity",
    "1e400",
    "../../etc/passwd",
    "/abs",
    "%00",
    "' OR 1=1 --",
    "9" * 40,
    "-1",
    "²",
    "٣",
    [],
    [1, 2],
    ["a"],
    [None],
    [{}],
    {},
    {"a": 1},
    {"key": None},
    [[[]]],
]
# Values for list fields (tags, metrics, order_by…): each element malformed.
BAD_LIST_ITEMS: list[Any] = [
    None,
    1,
    "x",
    [],
    {},
    {"key": 1, "value": 2},
    {"key": "k" * 300, "value": "v"},
    {"key": "ok", "value": "\x00"},
    {"key": "a\x00b", "value": "v"},
    {"key": "\ud800", "value": "v"},
    {"key": "ok", "value": {"nested": 1}},
    {"key": "m", "value": "NaN", "timestamp": 2**64, "step": -(2**70)},
    {"key": "m", "value": 1, "timestamp": "soon", "step": 1.5},
    {"key": "m", "value": [1], "timestamp": None, "step": None},
    {"dataset": None},
    {"dataset": {"name": 1, "digest": []}},
    {"model_id": 1},
    {"model_id": "m-" + "0" * 32},
    {
        "dataset": {"name": "n" * 600, "digest": "d" * 100, "source_type": "s" * 100, "source": "x" * 70_000},
        "tags": [{"key": "k" * 300, "value": "v" * 600}],
    },
    {
        "dataset": {
            "name": "n",
            "digest": "d",
            "source_type": "local",
            "source": "{}",
            "schema": 5,
            "profile": [],
        }
    },
    {"dataset": {"name": "n", "digest": "d", "source_type": "local", "source": "{}"}, "tags": "x"},
    {"field_name": "\x00", "ascending": "yes"},
    {"field_name": "metrics.m", "dataset_name": 1},
]
BAD_BODIES: list[tuple[str, bytes]] = [
    ("non-json", b"this is not json"),
    ("truncated json", b'{"name": '),
    ("json list", b"[1, 2, 3]"),
    ("json string", b'"name"'),
    ("json number", b"42"),
    ("json null", b"null"),
    ("latin-1 bytes", b'{"name": "\xe9"}'),
    ("deeply nested", b"[" * 100_000 + b"]" * 100_000),
    ("deeply nested object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("huge number", b'{"max_results": ' + b"9" * 5000 + b"}"),
    ("NaN literal", b'{"value": NaN, "max_results": NaN}'),
    ("duplicate keys", b'{"name": "a", "name": 1}'),
    ("bom", "\ufeff{}".encode()),
]
# The search routes' filter grammar: junk that must parse to a 400, never reach SQL as a 500.
BAD_FILTERS = [
    "attributes.start_time > 99999999999999999999999",
    "attributes.start_time < -99999999999999999999999",
    "metrics.m > 1e400",
    "metrics.m > NaN",
    "metrics.m = 'x'",
    "params.p LIKE '%\\'",
    "tags.`a` IN ()",
    "attributes.run_id IN ('a', '\x00')",
    "name = '\ud800'",
    "version_number > 99999999999999999999",
    "name LIKE '%' AND " * 200 + "name = 'x'",
    "(" * 500,
    "tags.k = '" + "v" * 10_000 + "'",
    "attributes.status IN ('RUNNING'",
    "datasets.name = 'd'",
    "metrics.`m` >= -1e308",
    "run_name ILIKE '_%'",
    "creation_timestamp > 2e63",
    "last_updated_timestamp < 1.5",
    "params.`` = 'x'",
    "tags.`a\x00` = 'b'",
]
# Page tokens that decode (base64 JSON) to offsets no server made: past bigint, negative, not a number.
BAD_PAGE_TOKENS = [
    base64.b64encode(json.dumps(v).encode()).decode()
    for v in (
        {"offset": 10**30},
        {"offset": 2**63},
        {"offset": -1},
        {"offset": 1e300},
        {"offset": "1"},
        {"offset": None},
        [1],
        "x",
        {"offset": 2**53 + 1},
    )
]
FRONT_SERVER_STATUSES = (400, 414, 431)
BAD_QUERY_STRINGS = [
    "max_results=-1",
    "max_results=99999999999999999999999",
    "max_results=abc",
    "max_results=1e3",
    "page_token=%00",
    "page_token=not-base64!",
    "page_token=" + "A" * 5000,
    "filter=%00",
    "filter=name%3D%27%00%27",
    "run_id=%00",
    "run_id=%ED%A0%80",
    "name=%FF%FE",
    "experiment_id=%C0%AF",
    "stages=%00&stages=x",
    "order_by=%00",
    "view_type=SOMETHING",
    "a=" + "b" * 10_000,
]
