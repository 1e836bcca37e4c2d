"""The filter and order_by grammar: a strict hand-written lexer and parser (see the package docstring)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from config.errors import InvalidParameter

from .specs import (
    _PREFIXES,
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
    _Spec,
)

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
