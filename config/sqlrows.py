"""Model instances from rows of plain SQL, for the few hottest statements (authentication, a version's creation and
registration, the webhook outbox's lookup).

On those paths compiling the ORM's query (joins, annotations, `select_related`) cost more CPU than running it
(issue 9), so they send fixed SQL instead. This module is the one place that builds such a statement's column list
from a model and turns the row back into the instance the ORM would have built: the values converted the way the
ORM's compiler converts them (a JSON column parsed, …) and handed to `Model.from_db` in the model's field order, the
columns not selected left deferred."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


def fields_of(model: type[Model], attnames: Iterable[str] | None = None) -> list[str]:
    """`attnames` (default: every concrete field) in the model's field order, which `from_db` requires."""
    wanted = None if attnames is None else set(attnames)
    return [f.attname for f in model._meta.concrete_fields if wanted is None or f.attname in wanted]


def select_list(model: type[Model], names: Sequence[str], alias: str | None = None) -> str:
    """`alias."col", …` for the fields `names` (attnames) of `model`."""
    prefix = f"{alias}." if alias else ""
    columns = {f.attname: f.column for f in model._meta.concrete_fields}
    return ", ".join(f"{prefix}{qn(str(columns[name]))}" for name in names)


@functools.cache
def _converters(model: type[Model], attname: str) -> tuple[Callable[[Any], Any], ...]:
    field = next(f for f in model._meta.concrete_fields if f.attname == attname)
    col = field.get_col(model._meta.db_table)
    found = connection.ops.get_db_converters(col) + field.get_db_converters(connection)
    return tuple(functools.partial(_apply, convert, col) for convert in found)


def _apply(convert: Any, col: Any, value: Any) -> Any:
    return convert(value, col, connection)


def instance(model: type[M], names: Sequence[str], values: Sequence[Any]) -> M:
    """The instance `model` with the fields `names` set from `values` (as read from the database)."""
    converted = list(values)
    for i, name in enumerate(names):
        for convert in _converters(model, name):
            converted[i] = convert(converted[i])
    return model.from_db(connection.alias, list(names), converted)  # type: ignore[return-value]


def instances(row: Sequence[Any], *layout: tuple[type[Model], Sequence[str]]) -> list[Model | None]:
    """Split one row into one instance per (model, names), in order; None for a part whose first column (its
    primary key, from an outer join that matched nothing) is NULL."""
    out: list[Model | None] = []
    at = 0
    for model, names in layout:
        values = row[at : at + len(names)]
        at += len(names)
        out.append(instance(model, names, values) if values[0] is not None else None)
    return out
