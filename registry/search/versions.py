"""`model-versions/search` on PostgreSQL as ONE hand-written statement: the page of versions, their model's name and
their tags (an `ARRAY(SELECT ARRAY[key, value] …)` per row), fetched as plain tuples.

Why by hand: the ORM path (a queryset with `Exists` filters, `select_related`, then prefetch queries for tags) cost
three round trips and more CPU building and compiling querysets than the database spent answering; a search is one
of the hottest reads. Every value is a bound parameter: parsed clauses become SQL only through the fixed fragments
below, never by pasting their text. Who may read what stays the gatekeeper's decision: the caller passes the SQL of
`permissions.readable(...)` (compiled by the ORM) as the model-id condition, or None when the caller reads the
whole tenant (`permissions.reads_whole_tenant`: the tenant condition is then all there is to it). Other databases (the embedded SQLite)
keep the ORM path in `registry.selectors`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection

from .specs import PROMPT_TAG, Clause, OrderBy
from .sql import _like_parts

# Parsed attribute keys → columns (`mv` the version, `m` its model).
_COLUMNS = {
    "name": "m.name",
    "run_id": "mv.run_id",
    "source_path": "mv.source",
    "version_number": "mv.version",
    "creation_timestamp": "mv.creation_timestamp",
    "last_updated_timestamp": "mv.last_updated_timestamp",
}
_NUMERIC_SQL = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

# What a search row holds, in this order (the API layer renders them).
ROW_FIELDS = (
    "name",
    "version",
    "creation_timestamp",
    "last_updated_timestamp",
    "stage",
    "description",
    "source",
    "run_id",
    "status",
    "run_link",
    "user_label",
    "status_message",
    "tags",
)


def like_pattern(pattern: str) -> tuple[str, str | None]:
    """A LIKE pattern in canonical form (every literal `\\`, `%`, `_` escaped), and the plain string it stands for
    when it has no wildcard (then `=` says the same and can use an index), else None.

    The grammar's LIKE (`search.sql._like_parts`) lets a backslash escape the next character and treats a trailing
    one as a literal; PostgreSQL refuses a pattern ending in the escape character. Re-escaping from the parsed parts
    gives PostgreSQL exactly the grammar's meaning."""
    out: list[str] = []
    literal: list[str] = []
    wild = False
    for kind, text in _like_parts(pattern):
        if kind == "any":
            out.append("%")
            wild = True
        elif kind == "one":
            out.append("_")
            wild = True
        else:
            literal.append(text)
            out.append(text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
    return "".join(out), None if wild else "".join(literal)


def _string_sql(column: str, op: str, value: Any, params: list[Any]) -> str:
    """A string comparison with the same meaning as `search.string_q` (columns here are NOT NULL)."""
    if op in ("=", "!="):
        params.append(value)
        return f"{column} {'=' if op == '=' else '<>'} %s"
    if op in ("IN", "NOT IN"):
        params.append(list(value))
        return f"{'NOT ' if op == 'NOT IN' else ''}{column} = ANY(%s)"
    pattern, plain = like_pattern(value)
    if op == "LIKE":
        if plain is not None:
            params.append(plain)
            return f"{column} = %s"
        params.append(pattern)
        return f"{column} LIKE %s"
    # ILIKE: upper-case both sides, as Django's `iexact`/`icontains` lookups do.
    if plain is not None:
        params.append(plain)
        return f"UPPER({column}) = UPPER(%s)"
    params.append(pattern)
    return f"UPPER({column}) LIKE UPPER(%s)"


def _clause_sql(clause: Clause, tag_table: str, params: list[Any]) -> str:
    if clause.entity == "tag":
        # MLflow's join semantics: only versions that have the tag can match (`!=` included).
        params.append(clause.key)
        value = _string_sql("t.value", clause.op, clause.value, params)
        return f"EXISTS (SELECT 1 FROM {tag_table} t WHERE t.version_id = mv.id AND t.key = %s AND {value})"
    column = _COLUMNS[clause.key]
    if clause.key == "version_number":
        params.append(clause.value)
        return f"{column} {_NUMERIC_SQL[clause.op]} %s"
    return _string_sql(column, clause.op, clause.value, params)


def _order_sql(orders: Sequence[OrderBy]) -> str:
    terms = [f"{_COLUMNS[o.key]} {'ASC' if o.ascending else 'DESC'}" for o in orders]
    if not terms:
        terms = ["m.name ASC", "mv.version DESC"]  # MLflow's default: name ASC, version DESC
    return ", ".join([*terms, "mv.id ASC"])


def search_versions_sql(
    clauses: Sequence[Clause],
    orders: Sequence[OrderBy],
    readable_sql: str | None,
    readable_params: Sequence[Any],
    *,
    tenant_id: int,
    offset: int,
    limit: int,
) -> tuple[str, list[Any]]:
    """The statement and its parameters; rows are `ROW_FIELDS` (tags as a list of [key, value])."""
    from registry.models import ModelVersion, ModelVersionTag, RegisteredModel, RegisteredModelTag

    qn = connection.ops.quote_name
    versions, models = qn(ModelVersion._meta.db_table), qn(RegisteredModel._meta.db_table)
    tags, model_tags = qn(ModelVersionTag._meta.db_table), qn(RegisteredModelTag._meta.db_table)
    params: list[Any] = [tenant_id]
    # The tenant on `m` itself (even when the readable models imply it): `name = …` then probes the (tenant, name)
    # index instead of scanning every tenant's models for the name.
    where = ["m.tenant_id = %s"]
    if readable_sql is not None:
        where.append(f"mv.model_id IN ({readable_sql})")
        params += readable_params
    params.append(PROMPT_TAG)
    where += [
        # MLflow's server never lists prompt versions in a model-version search.
        f"NOT EXISTS (SELECT 1 FROM {model_tags} rt WHERE rt.model_id = mv.model_id AND rt.key = %s "
        "AND UPPER(rt.value) = 'TRUE')",
    ]
    where += [_clause_sql(c, tags, params) for c in clauses]
    params += [limit, offset]
    sql = (
        "SELECT m.name, mv.version, mv.creation_timestamp, mv.last_updated_timestamp, mv.stage, mv.description, "
        "mv.source, mv.run_id, mv.status, mv.run_link, mv.user_label, mv.status_message, "
        f"ARRAY(SELECT ARRAY[vt.key, vt.value] FROM {tags} vt WHERE vt.version_id = mv.id) "
        f"FROM {versions} mv JOIN {models} m ON m.id = mv.model_id "
        f"WHERE {' AND '.join(where)} ORDER BY {_order_sql(orders)} LIMIT %s OFFSET %s"
    )
    return sql, params


def search_versions(
    clauses: Sequence[Clause],
    orders: Sequence[OrderBy],
    readable_sql: str | None,
    readable_params: Sequence[Any],
    *,
    tenant_id: int,
    offset: int,
    limit: int,
) -> list[tuple[Any, ...]]:
    sql, params = search_versions_sql(
        clauses, orders, readable_sql, readable_params, tenant_id=tenant_id, offset=offset, limit=limit
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
