"""MLflow's search filter grammar, parsed into data: a filter string never reaches SQL as text.

`parse_filter(text, kind)` turns ``metrics.auc > 0.9 AND tags.`mlflow.parentRunId` = 'abc'`` into a list of
`Clause(entity, key, op, value)`; the caller turns each clause into ORM lookups with the value as a bound parameter.
What each kind of search accepts (identifiers, operators, value types) follows MLflow 3.17.2's `search_utils.py`
(see wire-contract.md §4); anything else is a 400 `INVALID_PARAMETER_VALUE`, as MLflow answers.

Written by hand because MLflow's own parser lives in the client package (and rides on `sqlparse`, a SQL lexer):
the grammar is small, and a strict parser of our own rejects hostile input instead of half-understanding it.
"""

from __future__ import annotations

from .grammar import is_prompt_exclusion, parse_filter, parse_order_by, split_prompt_clause
from .paging import MAX_PAGE_OFFSET, decode_page_token, encode_page_token, page, page_size
from .specs import (
    ENTITIES,
    KINDS,
    LIST_OPS,
    MAX_CLAUSES,
    MAX_FILTER_LENGTH,
    MAX_IN_VALUES,
    NULL_OPS,
    NUMERIC_OPS,
    PROMPT_TAG,
    SPECS,
    STRING_OPS,
    Clause,
    OrderBy,
)
from .sql import NUMERIC_LOOKUPS, apply_like, like_match, like_q, like_regex, numeric_q, string_q
from .versions import ROW_FIELDS as VERSION_ROW_FIELDS
from .versions import search_versions

__all__ = [
    "ENTITIES",
    "KINDS",
    "LIST_OPS",
    "MAX_CLAUSES",
    "MAX_FILTER_LENGTH",
    "MAX_IN_VALUES",
    "MAX_PAGE_OFFSET",
    "NULL_OPS",
    "NUMERIC_LOOKUPS",
    "NUMERIC_OPS",
    "PROMPT_TAG",
    "SPECS",
    "VERSION_ROW_FIELDS",
    "STRING_OPS",
    "Clause",
    "OrderBy",
    "apply_like",
    "decode_page_token",
    "encode_page_token",
    "is_prompt_exclusion",
    "like_match",
    "like_q",
    "like_regex",
    "numeric_q",
    "page",
    "page_size",
    "parse_filter",
    "parse_order_by",
    "search_versions",
    "split_prompt_clause",
    "string_q",
]
