"""Metric points in two statements whatever the batch size: the history rows in one `INSERT … SELECT … WHERE NOT
EXISTS`, the latest point per key in one `INSERT … ON CONFLICT DO UPDATE … WHERE`.

Hand-written SQL because the ORM has neither: `bulk_create(update_conflicts=True)` cannot carry the WHERE that keeps
MLflow's "latest" rule, and `bulk_update` builds a CASE WHEN per row (it was most of log-batch's time). The SQL is
the common subset of PostgreSQL and SQLite (the embedded `make run`): `VALUES` rows named `column1…`, `CAST`,
row-value comparison, `ON CONFLICT … excluded`. Neither statement needs the run row lock: the upsert re-checks the
rule against the row it conflicts with under that row's lock, so concurrent batches to one run keep the right point.
Both write only while the run is still active (a condition in the statement, not a lock): a run deleted after the
caller checked it gets nothing, or, when the delete commits a moment later, what MLflow would give it too."""

from __future__ import annotations

import math
from collections.abc import Iterable

from django.db import connection

from ..entities import MetricPoint
from ..models import LatestMetric, Metric, Run

# MLflow's SQL store compares NaN as 0 when it picks the latest point (`_latest_order` in logging.py does the same).
# On SQLite (which cannot store NaN) the CAST gives 0.0 and the CASE changes nothing.
_NAN = "CAST('NaN' AS DOUBLE PRECISION)"


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _run_is_active() -> str:
    """The condition (one parameter: the run's pk) under which the statements write."""
    run = _q(Run._meta.db_table)
    return f"EXISTS (SELECT 1 FROM {run} r WHERE r.{_q('id')} = %s AND r.{_q('lifecycle_stage')} = 'active')"


def _order_expr(table: str) -> str:
    value = f"{table}.{_q('value')}"
    return f"({table}.{_q('step')}, {table}.{_q('timestamp')}, CASE WHEN {value} = {_NAN} THEN 0 ELSE {value} END)"


def point_key(key: str, timestamp: int, step: int, value: float) -> tuple:
    """A history point's identity (MLflow's metrics primary key without the run); NaN equals NaN."""
    return key, timestamp, step, "NaN" if math.isnan(value) else value


def insert_history(run_id: int, metrics: Iterable[MetricPoint]) -> None:
    """Append the points (without model ids) the run's history does not hold yet, in one statement. A point is
    (key, timestamp, step, value), as in MLflow: a retried batch, or a point already tagged with a logged model's
    id, adds nothing (NOT EXISTS), and a retry racing the original request adds nothing either (ON CONFLICT DO
    NOTHING against the `metric_unique_point` constraint). Identical points within the batch are kept once (the
    first, with its dataset)."""
    seen: set[tuple] = set()
    rows: list[MetricPoint] = []
    for m in metrics:
        point = point_key(m.key, m.timestamp, m.step, m.value)
        if point not in seen:
            seen.add(point)
            rows.append(m)
    if not rows:
        return
    table = _q(Metric._meta.db_table)
    cols = ", ".join(
        _q(c)
        for c in (
            "run_id",
            "key",
            "value",
            "timestamp",
            "step",
            "model_id",
            "dataset_name",
            "dataset_digest",
        )
    )
    row_sql = "(%s, %s, CAST(%s AS DOUBLE PRECISION), CAST(%s AS BIGINT), CAST(%s AS BIGINT), %s, %s)"
    # Sorted by identity: concurrent inserts of overlapping points wait for each other in the same order (no
    # deadlock). The history is read ordered by its own columns, never by insertion order.
    rows.sort(key=lambda m: (m.key, m.step, m.timestamp))
    params: list = []
    for m in rows:
        params += [run_id, m.key, m.value, m.timestamp, m.step, m.dataset_name, m.dataset_digest]
    # PostgreSQL compares NaN = NaN as true (unlike IEEE), so the NOT EXISTS finds an identical NaN point too.
    sql = (
        f"INSERT INTO {table} ({cols}) "
        f"SELECT v.column1, v.column2, v.column3, v.column4, v.column5, '', v.column6, v.column7 "
        f"FROM (VALUES {', '.join([row_sql] * len(rows))}) AS v "
        f"WHERE {_run_is_active()} AND NOT EXISTS (SELECT 1 FROM {table} h WHERE h.{_q('run_id')} = v.column1 "
        f"AND h.{_q('key')} = v.column2 AND h.{_q('step')} = v.column5 "
        f"AND h.{_q('timestamp')} = v.column4 AND h.{_q('value')} = v.column3) "
        f"ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, run_id])


def upsert_latest(run_id: int, newest: dict[str, MetricPoint]) -> None:
    """Make each key's LatestMetric row the newest point by MLflow's rule (highest step, then timestamp, then value),
    in one statement: insert it, or update the existing row only where the new point is later."""
    if not newest:
        return
    table = _q(LatestMetric._meta.db_table)
    cols = ", ".join(_q(c) for c in ("run_id", "key", "value", "timestamp", "step"))
    row_sql = "(%s, %s, CAST(%s AS DOUBLE PRECISION), CAST(%s AS BIGINT), CAST(%s AS BIGINT))"
    params: list = []
    # Sorted by key: concurrent batches to one run lock the rows they update in the same order (no deadlock).
    for key in sorted(newest):
        m = newest[key]
        params += [run_id, key, m.value, m.timestamp, m.step]
    sets = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in ("value", "timestamp", "step"))
    sql = (
        f"INSERT INTO {table} ({cols}) "
        f"SELECT v.column1, v.column2, v.column3, v.column4, v.column5 "
        f"FROM (VALUES {', '.join([row_sql] * len(newest))}) AS v WHERE {_run_is_active()} "
        f"ON CONFLICT ({_q('run_id')}, {_q('key')}) DO UPDATE SET {sets} "
        f"WHERE {_order_expr('excluded')} > {_order_expr(table)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, run_id])
