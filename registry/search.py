"""MLflow's search filter grammar, parsed into data: a filter string never reaches SQL as text.

`parse_filter(text, kind)` turns ``metrics.auc > 0.9 AND tags.`mlflow.parentRunId` = 'abc'`` into a list of
`Clause(entity, key, op, value)`; the caller turns each clause into ORM lookups with the value as a bound parameter.
What each kind of search accepts (identifiers, operators, value types) follows MLflow 3.17.2's `search_utils.py`
(see wire-contract.md §4); anything else is a 400 `INVALID_PARAMETER_VALUE`, as MLflow answers.

Written by hand because MLflow's own parser lives in the client package (and rides on `sqlparse`, a SQL lexer):
the grammar is small, and a strict parser of our own rejects hostile input instead of half-understanding it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from config.errors import InvalidParameter

KINDS = ("runs", "experiments", "logged_models", "registered_models", "model_versions")
ENTITIES = ("metric", "param", "tag", "attribute", "dataset")

MAX_FILTER_LENGTH = 20_000
MAX_CLAUSES = 100
MAX_IN_VALUES = 1000

PROMPT_TAG = "mlflow.prompt.is_prompt"

# Entity prefixes MLflow accepts, mapped to our entity names.
_PREFIXES = {
    "metric": "metric",
    "metrics": "metric",
    "param": "param",
    "params": "param",
    "parameter": "param",
    "parameters": "param",
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
    "run": "attribute",
    "dataset": "dataset",
    "datasets": "dataset",
}

NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">="})
STRING_OPS = frozenset({"=", "!=", "LIKE", "ILIKE"})
LIST_OPS = frozenset({"IN", "NOT IN"})
NULL_OPS = frozenset({"IS NULL", "IS NOT NULL"})


@dataclass(frozen=True)
class Clause:
    """One comparison. `value` is a float (metrics), an int or float (numeric attributes), a str, a tuple of str
    (`IN`/`NOT IN`) or None (`IS NULL`/`IS NOT NULL`). `op` is upper-case."""

    entity: str
    key: str
    op: str
    value: Any


@dataclass(frozen=True)
class OrderBy:
    entity: str
    key: str
    ascending: bool = True


@dataclass(frozen=True)
class _Spec:
    entities: dict[
        str, frozenset[str] | None
    ]  # entity → allowed ops (None: not this entity's rules, see attrs)
    string_attrs: frozenset[str]
    numeric_attrs: frozenset[str]
    list_attrs: frozenset[str]  # string attributes that accept IN / NOT IN
    aliases: dict[str, str]  # attribute aliases → canonical name
    dataset_attrs: frozenset[str] = frozenset()
    order_entities: frozenset[str] = frozenset({"attribute"})
    order_attrs: frozenset[str] = frozenset()


_RUN_STRING_ATTRS = frozenset({"run_id", "run_name", "status", "user_id", "artifact_uri"})
_RUN_NUMERIC_ATTRS = frozenset({"start_time", "end_time"})

SPECS: dict[str, _Spec] = {
    "runs": _Spec(
        entities={
            "metric": NUMERIC_OPS,
            "param": STRING_OPS | NULL_OPS,
            "tag": STRING_OPS | NULL_OPS,
            "attribute": None,
            "dataset": STRING_OPS | LIST_OPS,
        },
        string_attrs=_RUN_STRING_ATTRS,
        numeric_attrs=_RUN_NUMERIC_ATTRS,
        list_attrs=frozenset({"run_id"}),
        aliases={
            "created": "start_time",
            "Created": "start_time",
            "run name": "run_name",
            "Run name": "run_name",
            "Run Name": "run_name",
        },
        dataset_attrs=frozenset({"name", "digest", "context"}),
        order_entities=frozenset({"attribute", "metric", "param", "tag"}),
        order_attrs=_RUN_STRING_ATTRS | _RUN_NUMERIC_ATTRS,
    ),
    "experiments": _Spec(
        entities={"tag": STRING_OPS | NULL_OPS, "attribute": None},
        string_attrs=frozenset({"name", "experiment_id"}),
        numeric_attrs=frozenset({"creation_time", "last_update_time"}),
        list_attrs=frozenset({"experiment_id"}),
        aliases={},
        order_attrs=frozenset({"name", "experiment_id", "creation_time", "last_update_time"}),
    ),
    "registered_models": _Spec(
        entities={"tag": STRING_OPS, "attribute": None},
        string_attrs=frozenset({"name"}),
        numeric_attrs=frozenset(),
        list_attrs=frozenset({"name"}),
        aliases={"timestamp": "last_updated_timestamp"},
        order_attrs=frozenset({"name", "creation_timestamp", "last_updated_timestamp"}),
    ),
    "model_versions": _Spec(
        entities={"tag": STRING_OPS, "attribute": None},
        string_attrs=frozenset({"name", "run_id", "source_path"}),
        numeric_attrs=frozenset({"version_number"}),
        list_attrs=frozenset({"name", "run_id", "source_path"}),
        aliases={"timestamp": "last_updated_timestamp"},
        order_attrs=frozenset({"name", "version_number", "creation_timestamp", "last_updated_timestamp"}),
    ),
    "logged_models": _Spec(
        entities={"metric": NUMERIC_OPS, "param": STRING_OPS, "tag": STRING_OPS, "attribute": None},
        string_attrs=frozenset({"name", "model_id", "model_type", "status", "source_run_id"}),
        numeric_attrs=frozenset({"creation_timestamp", "last_updated_timestamp"}),
        list_attrs=frozenset(),
        aliases={"creation_time": "creation_timestamp", "last_updated_time": "last_updated_timestamp"},
        order_entities=frozenset({"attribute", "metric"}),
        order_attrs=frozenset(
            {
                "name",
                "model_id",
                "model_type",
                "status",
                "source_run_id",
                "creation_timestamp",
                "last_updated_timestamp",
            }
        ),
    ),
}


# --- lexer -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # WORD NUMBER SQUOTE DQUOTE BACKTICK OP LPAREN RPAREN COMMA DOT END
    text: str  # for quoted tokens: the unquoted content
    pos: int


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<NUMBER>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<WORD>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<SQUOTE>'(?:[^'\\]|''|\\.)*')
  | (?P<DQUOTE>"(?:[^"\\]|""|\\.)*")
  | (?P<BACKTICK>`[^`]*`)
  | (?P<OP><=|>=|!=|=|<|>)
  | (?P<LPAREN>\()
  | (?P<RPAREN>\))
  | (?P<COMMA>,)
  | (?P<DOT>\.)
    """,
    re.VERBOSE,
)


def _unquote(text: str) -> str:
    quote = text[0]
    inner = text[1:-1]
    if quote == "`":
        return inner
    # SQL doubles the quote to escape it; PostgreSQL-style backslash escapes of the quote are accepted too.
    return re.sub(
        r"\\(.)|" + re.escape(quote * 2), lambda m: m.group(1) if m.group(1) is not None else quote, inner
    )


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise InvalidParameter(
                f"Invalid filter string: unexpected character {text[pos]!r} at position {pos}."
            )
        kind = match.lastgroup or ""  # every alternative of _TOKEN_RE is a named group
        raw = match.group(kind)
        if kind != "ws":
            value = _unquote(raw) if kind in ("SQUOTE", "DQUOTE", "BACKTICK") else raw
            tokens.append(_Token(kind, value, pos))
        pos = match.end()
    tokens.append(_Token("END", "", len(text)))
    return tokens


# --- parser ------------------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, kind: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.kind = kind
        self.spec = SPECS[kind]

    # helpers
    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        if token.kind != "END":
            self.i += 1
        return token

    def keyword(self, token: _Token, *words: str) -> bool:
        return token.kind == "WORD" and token.text.upper() in words

    def fail(self, message: str) -> InvalidParameter:
        return InvalidParameter(f"Invalid filter string '{self.text}': {message}")

    # grammar: filter := clause (AND clause)*
    def parse(self) -> list[Clause]:
        clauses = [self.clause()]
        while True:
            token = self.peek()
            if token.kind == "END":
                return clauses
            if self.keyword(token, "AND"):
                self.take()
                clauses.append(self.clause())
                if len(clauses) > MAX_CLAUSES:
                    raise self.fail(f"at most {MAX_CLAUSES} clauses are allowed.")
                continue
            if self.keyword(token, "OR"):
                # MLflow's message, word for word: only AND joins clauses.
                raise InvalidParameter("Invalid clause(s) in filter string: OR")
            raise self.fail(f"expected AND at position {token.pos}, found {token.text!r}.")

    def identifier(self) -> tuple[str, str]:
        """`entity.key`, `entity.`quoted key``, or a bare (possibly quoted) attribute."""
        token = self.take()
        if token.kind in ("BACKTICK", "DQUOTE"):
            return "attribute", token.text
        if token.kind != "WORD" or self.keyword(
            token, "AND", "OR", "NOT", "IS", "IN", "LIKE", "ILIKE", "NULL"
        ):
            raise self.fail(
                f"expected an identifier at position {token.pos}, found {token.text or 'the end'!r}."
            )
        if "." in token.text:
            prefix, key = token.text.split(".", 1)
            return self.entity(prefix), key
        if self.peek().kind == "DOT":
            self.take()
            key_token = self.take()
            if key_token.kind not in ("BACKTICK", "DQUOTE", "WORD", "NUMBER"):
                raise self.fail(f"expected a key after '{token.text}.' at position {key_token.pos}.")
            return self.entity(token.text), key_token.text
        return "attribute", token.text

    def entity(self, prefix: str) -> str:
        entity = _PREFIXES.get(prefix)  # case-sensitive, as in MLflow
        if entity is None:
            raise InvalidParameter(
                f"Invalid entity type '{prefix}'. Valid values are ['metric', 'parameter', 'tag', 'attribute', "
                f"'dataset']"
            )
        return entity

    def operator(self) -> str:
        token = self.take()
        if token.kind == "OP":
            return token.text
        if self.keyword(token, "LIKE", "ILIKE", "IN"):
            return token.text.upper()
        if self.keyword(token, "NOT"):
            nxt = self.take()
            if self.keyword(nxt, "IN"):
                return "NOT IN"
            raise self.fail(f"expected IN after NOT at position {nxt.pos}.")
        if self.keyword(token, "IS"):
            nxt = self.take()
            if self.keyword(nxt, "NULL"):
                return "IS NULL"
            if self.keyword(nxt, "NOT") and self.keyword(self.take(), "NULL"):
                return "IS NOT NULL"
            raise self.fail(f"expected NULL or NOT NULL after IS at position {nxt.pos}.")
        raise self.fail(
            f"expected a comparison operator at position {token.pos}, found {token.text or 'the end'!r}."
        )

    def clause(self) -> Clause:
        entity, key = self.identifier()
        if not key:
            raise self.fail("empty key.")
        entity, key, numeric = self.check_identifier(entity, key)
        op = self.operator()
        self.check_operator(entity, key, op, numeric)
        if op in NULL_OPS:
            value: Any = None
        elif op in LIST_OPS:
            value = self.string_list()
        elif numeric:
            value = self.number(entity, key)
        else:
            value = self.string(entity, key)
        return Clause(entity, key, op, value)

    def check_identifier(self, entity: str, key: str) -> tuple[str, str, bool]:
        spec = self.spec
        if entity not in spec.entities:
            raise InvalidParameter(
                f"Invalid entity type '{entity}' for searching {self.kind.replace('_', ' ')}."
            )
        if entity == "attribute":
            key = spec.aliases.get(key, key)
            if key in spec.numeric_attrs:
                return entity, key, True
            if key in spec.string_attrs:
                return entity, key, False
            valid = sorted(spec.string_attrs | spec.numeric_attrs)
            raise InvalidParameter(f"Invalid attribute key '{key}' specified. Valid keys are '{valid}'")
        if entity == "dataset" and key not in spec.dataset_attrs:
            raise InvalidParameter(
                f"Invalid dataset key '{key}' specified. Valid keys are '{sorted(spec.dataset_attrs)}'"
            )
        return entity, key, entity == "metric"

    def check_operator(self, entity: str, key: str, op: str, numeric: bool) -> None:
        if entity == "attribute":
            if numeric:
                allowed = NUMERIC_OPS
            else:
                allowed = STRING_OPS | (LIST_OPS if key in self.spec.list_attrs else frozenset())
        else:
            allowed = self.spec.entities[entity] or frozenset()
        if op not in allowed:
            what = f"{entity} '{key}'"
            if op in LIST_OPS:
                raise InvalidParameter(
                    f"Invalid comparator '{op}' for {what}: only "
                    f"{sorted(self.spec.list_attrs) or 'no'} attributes support lists."
                )
            raise InvalidParameter(f"Invalid comparator '{op}' for {what}, not one of '{sorted(allowed)}'")

    def number(self, entity: str, key: str) -> int | float:
        token = self.take()
        if token.kind != "NUMBER":
            raise InvalidParameter(
                f"Expected numeric value type for {entity} '{key}'. Found {token.text or 'nothing'!r}"
            )
        text = token.text
        if entity == "attribute" and re.fullmatch(r"[-+]?\d+", text):
            return int(text)
        return float(text)

    def string(self, entity: str, key: str) -> str:
        token = self.take()
        if token.kind not in ("SQUOTE", "DQUOTE"):
            raise InvalidParameter(
                f"Expected a quoted string value for {entity} '{key}' (e.g. 'my-value'). Got value "
                f"{token.text or 'nothing'!r}"
            )
        return token.text

    def string_list(self) -> tuple[str, ...]:
        if self.take().kind != "LPAREN":
            raise self.fail("expected '(' after IN.")
        values: list[str] = []
        while True:
            token = self.take()
            if token.kind not in ("SQUOTE", "DQUOTE"):
                raise self.fail(f"expected a quoted string in the IN list at position {token.pos}.")
            values.append(token.text)
            if len(values) > MAX_IN_VALUES:
                raise self.fail(f"at most {MAX_IN_VALUES} values are allowed in a list.")
            sep = self.take()
            if sep.kind == "RPAREN":
                return tuple(values)
            if sep.kind != "COMMA":
                raise self.fail(f"expected ',' or ')' in the IN list at position {sep.pos}.")


def _check_kind(kind: str) -> None:
    if kind not in SPECS:
        raise ValueError(f"unknown search kind {kind!r}")


def _check_text(text: str, what: str) -> None:
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidParameter(f"The {what} is too long (at most {MAX_FILTER_LENGTH} characters).")
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the database.
        raise InvalidParameter(f"The {what} must not contain NUL characters.")


def parse_filter(text: str | None, kind: str) -> list[Clause]:
    """Parse a search filter for a kind of search (`runs`, `experiments`, …). Empty → no clauses."""
    _check_kind(kind)
    if text is None:
        return []
    if not isinstance(text, str):
        raise InvalidParameter("The filter must be a string.")
    if not text.strip():
        return []
    _check_text(text, "filter")
    return _Parser(text, kind).parse()


def is_prompt_exclusion(clause: Clause) -> bool:
    """``tag.`mlflow.prompt.is_prompt` != 'true'``: the clause the MLflow client appends to every registered-model
    search. It means "exclude prompts" (models without the tag match), not MLflow's usual tag `!=` join semantics."""
    return (
        clause.entity == "tag"
        and clause.key == PROMPT_TAG
        and clause.op == "!="
        and isinstance(clause.value, str)
        and clause.value.lower() == "true"
    )


def split_prompt_clause(clauses: list[Clause]) -> tuple[list[Clause], bool]:
    """Remove the prompt-exclusion clauses; returns (other clauses, exclude_prompts)."""
    rest = [c for c in clauses if not is_prompt_exclusion(c)]
    return rest, len(rest) != len(clauses)


# --- order_by ----------------------------------------------------------------------------------------------------


def parse_order_by(items: list[str] | str | None, kind: str) -> list[OrderBy]:
    """Parse `order_by` items such as `"metrics.auc DESC"`, ``"tags.`a b` ASC"``, `"name"`."""
    _check_kind(kind)
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    if not isinstance(items, (list, tuple)):
        raise InvalidParameter("order_by must be a list of strings.")
    spec = SPECS[kind]
    result: list[OrderBy] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidParameter(f"Invalid order_by clause {item!r}: expected a string.")
        if not item.strip():
            continue
        _check_text(item, "order_by clause")
        result.append(_parse_one_order_by(item, kind, spec))
    return result


def _parse_one_order_by(item: str, kind: str, spec: _Spec) -> OrderBy:
    parser = _Parser(item, kind)
    try:
        entity, key = parser.identifier()
    except InvalidParameter as exc:
        raise InvalidParameter(f"Invalid order_by clause '{item}'. Could not be parsed.") from exc
    ascending = True
    token = parser.take()
    if parser.keyword(token, "ASC", "DESC"):
        ascending = token.text.upper() == "ASC"
        token = parser.take()
    if token.kind != "END":
        raise InvalidParameter(f"Invalid order_by clause '{item}'. Could not be parsed.")
    if entity not in spec.order_entities:
        raise InvalidParameter(f"Invalid order_by entity type '{entity}' in '{item}'.")
    if not key:
        raise InvalidParameter(f"Invalid order_by clause '{item}': empty key.")
    if entity == "attribute":
        key = spec.aliases.get(key, key)
        if key not in spec.order_attrs:
            raise InvalidParameter(
                f"Invalid order by key '{key}' specified. Valid keys are '{sorted(spec.order_attrs)}'"
            )
    return OrderBy(entity, key, ascending)


# --- LIKE --------------------------------------------------------------------------------------------------------


def _like_parts(pattern: str) -> list[tuple[str, str]]:
    """Split a LIKE pattern into ("lit", text) / ("any", "%") / ("one", "_") parts. A backslash escapes the next
    character, as PostgreSQL's LIKE does by default."""
    parts: list[tuple[str, str]] = []
    literal: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            literal.append(pattern[i + 1])
            i += 2
            continue
        if ch in "%_":
            if literal:
                parts.append(("lit", "".join(literal)))
                literal = []
            parts.append(("any" if ch == "%" else "one", ch))
        else:
            literal.append(ch)
        i += 1
    if literal:
        parts.append(("lit", "".join(literal)))
    return parts


def like_regex(pattern: str) -> str:
    """An anchored regular expression equivalent to a LIKE pattern; every literal character is escaped."""
    out = []
    for kind, text in _like_parts(pattern):
        out.append(".*" if kind == "any" else "." if kind == "one" else re.escape(text))
    return "^" + "".join(out) + "$"


def apply_like(pattern: str, *, case_sensitive: bool = True) -> tuple[str, str | bool]:
    """Turn a LIKE pattern into a Django lookup and its value, e.g. `"%churn%"` → `("contains", "churn")`.

    Simple shapes map to `exact`/`startswith`/`endswith`/`contains` (Django escapes their wildcards itself); the rest
    become an anchored `regex` whose literal parts are escaped, so no character of the pattern is ever SQL."""
    parts = _like_parts(pattern)
    kinds = [k for k, _ in parts]
    prefix = "" if case_sensitive else "i"
    if "one" not in kinds:
        literals = [t for k, t in parts if k == "lit"]
        if kinds == ["lit"] or not kinds:
            return prefix + "exact", "".join(literals)
        if kinds == ["lit", "any"]:
            return prefix + "startswith", literals[0]
        if kinds == ["any", "lit"]:
            return prefix + "endswith", literals[0]
        if kinds == ["any", "lit", "any"]:
            return prefix + "contains", literals[0]
        if all(k == "any" for k in kinds):
            return "isnull", False  # "%" matches every value
    return prefix + "regex", like_regex(pattern)


def like_q(field: str, pattern: str, *, case_sensitive: bool = True) -> Q:
    lookup, value = apply_like(pattern, case_sensitive=case_sensitive)
    return Q(**{f"{field}__{lookup}": value})


def like_match(value: str | None, pattern: str, *, case_sensitive: bool = True) -> bool:
    """The same LIKE semantics in Python (for filtering rows already loaded)."""
    if value is None:
        return False
    flags = re.DOTALL | (0 if case_sensitive else re.IGNORECASE)
    return re.match(like_regex(pattern), value, flags) is not None


def string_q(field: str, op: str, value: Any) -> Q:
    """A Q for a string comparison clause (`=`, `!=`, `LIKE`, `ILIKE`, `IN`, `NOT IN`) on one field."""
    if op == "=":
        return Q(**{field: value})
    if op == "!=":
        return ~Q(**{field: value})
    if op == "LIKE":
        return like_q(field, value, case_sensitive=True)
    if op == "ILIKE":
        return like_q(field, value, case_sensitive=False)
    if op == "IN":
        return Q(**{f"{field}__in": list(value)})
    if op == "NOT IN":
        return ~Q(**{f"{field}__in": list(value)})
    raise InvalidParameter(f"Invalid comparator '{op}' for a string.")


NUMERIC_LOOKUPS = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}


def numeric_q(field: str, op: str, value: float | int) -> Q:
    if op == "!=":
        return ~Q(**{field: value})
    lookup = NUMERIC_LOOKUPS.get(op)
    if lookup is None:
        raise InvalidParameter(f"Invalid comparator '{op}' for a number.")
    return Q(**{f"{field}__{lookup}": value})


# --- page tokens -------------------------------------------------------------------------------------------------


def encode_page_token(offset: int) -> str:
    """MLflow's token shape: base64 of `{"offset": N}` (opaque to the client)."""
    return base64.b64encode(json.dumps({"offset": int(offset)}).encode()).decode()


MAX_PAGE_OFFSET = 2**53  # far beyond any result set; offset + page size still fits a bigint


def decode_page_token(token: str | None) -> int:
    """The offset in a page token (0 for none). A token we did not make is a 400, never a 500."""
    if token in (None, ""):
        return 0
    if not isinstance(token, str) or len(token) > 1000:
        raise InvalidParameter("Invalid page token.")
    try:
        data = json.loads(base64.b64decode(token.encode("ascii"), validate=True).decode("utf-8"))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidParameter("Invalid page token, could not base64-decode.") from exc
    offset = data.get("offset") if isinstance(data, dict) else None
    # Bounded: a forged offset past PostgreSQL's bigint would be a database error (OFFSET out of range), a 500.
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_PAGE_OFFSET:
        raise InvalidParameter("Invalid page token: bad offset.")
    return offset


def page_size(value: Any, *, default: int, maximum: int, what: str = "max_results") -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(inf)
        raise InvalidParameter(
            f"Invalid value {value!r} for parameter '{what}': expected an integer."
        ) from exc
    if number < 1:
        raise InvalidParameter(f"Invalid value {number} for parameter '{what}': must be at least 1.")
    if number > maximum:
        raise InvalidParameter(
            f"Invalid value {number} for parameter '{what}' supplied. It must be at most {maximum}."
        )
    return number


def page(qs, offset: int, size: int) -> tuple[list, str | None]:
    """One page of a queryset (fetching one row more to know whether another page follows)."""
    rows = list(qs[offset : offset + size + 1])
    if len(rows) > size:
        return rows[:size], encode_page_token(offset + size)
    return rows, None
