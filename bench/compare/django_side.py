"""Modelgate-side helpers of the comparison, run in Modelgate's venv with its environment (a script, not imported):

python bench/compare/django_side.py big --tenant T --model M --count N
    copy version 1 of model M into versions 2..N (the 20,000-version case); prints a JSON summary
python bench/compare/django_side.py huge --tenant T --template M --models 10000 --versions 10 --batches 10000
    the 10,000-model tenant (`--huge`, see seed.py for the names and tags), copied from model M and its version 1
BENCH_TOKEN=mgt_… python bench/compare/django_side.py queries --tenant T < requests.json
    run each request once in-process (Django test client, same database) and print, as JSON, how many SQL
    statements it took: {"op": {"queries": n, "status": 200}}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402  (needs the path and settings module above)

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from registry.models import (  # noqa: E402
    ModelVersion,
    ModelVersionFile,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelTag,
)

BATCH = 2000


def bulk_versions(tenant: str, name: str, count: int) -> dict[str, Any]:
    """Bypasses the services on purpose: 20,000 audited durable transactions take minutes on a busy machine.
    The copies are READY versions with version 1's manifest, the counter row is advanced under its lock, and no
    audit events are written for them (the hash chain covers the events that exist, so it stays intact)."""
    started = time.monotonic()
    with transaction.atomic():
        model = RegisteredModel.objects.select_for_update().get(tenant__slug=tenant, name=name)
        first = ModelVersion.objects.get(model=model, version=1)
        files = list(ModelVersionFile.objects.filter(version=first))
        fields = [f.attname for f in ModelVersion._meta.concrete_fields if not f.primary_key]
        base = {f: getattr(first, f) for f in fields}
        for start in range(max(model.last_version, 1) + 1, count + 1, BATCH):
            batch = []
            for n in range(start, min(start + BATCH, count + 1)):
                batch.append(ModelVersion(**{**base, "version": n}))
            created = ModelVersion.objects.bulk_create(batch)
            ModelVersionFile.objects.bulk_create(
                [
                    ModelVersionFile(version=v, path=f.path, blob_id=f.blob_id, sha256=f.sha256, size=f.size)
                    for v in created
                    for f in files
                ]
            )
        model.last_version = max(model.last_version, count)
        model.save(update_fields=["last_version"])
    total = ModelVersion.objects.filter(model=model).count()
    return {"model": name, "versions": total, "seconds": round(time.monotonic() - started, 1)}


def _copy(cursor, model, overrides: dict[str, str], source: str, params: list[Any]) -> int:
    """INSERT … SELECT every column of a template row (alias `t`), some replaced by SQL expressions."""
    qn = connection.ops.quote_name
    columns = [f.column for f in model._meta.concrete_fields if not f.primary_key]
    exprs = ", ".join(overrides.get(c, f"t.{qn(c)}") for c in columns)
    table = qn(model._meta.db_table)
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(qn(c) for c in columns)}) SELECT {exprs} FROM {source}", params
    )
    return int(cursor.rowcount)


def huge_tenant(tenant: str, template: str, models: int, versions: int, batches: int) -> dict[str, Any]:
    """10,000 models x 10 versions x 3 tags straight into the tables (INSERT … SELECT from the template model and
    its version 1, so every column holds what the services wrote), then ANALYZE, as a database in service has
    statistics. Bypasses the services for the reason `bulk_versions` gives; the copies are READY versions owned
    by the template's team, with version 1's files."""
    started = time.monotonic()
    qn = connection.ops.quote_name
    models_t, versions_t = qn(RegisteredModel._meta.db_table), qn(ModelVersion._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        base = RegisteredModel.objects.get(tenant__slug=tenant, name=template)
        first = ModelVersion.objects.get(model=base, version=1)
        name = "'huge-' || lpad(g::text, 5, '0')"
        made = _copy(
            cursor,
            RegisteredModel,
            {
                "name": name,
                "last_version": "%s",
                "creation_timestamp": "t.creation_timestamp + g",
                "last_updated_timestamp": "t.last_updated_timestamp + g",
            },
            f"{models_t} t, generate_series(0, %s) g WHERE t.id = %s",
            [versions, models - 1, base.pk],
        )
        huge = f"m.tenant_id = {int(base.tenant_id)} AND m.name LIKE 'huge-%%'"
        _copy(
            cursor,
            RegisteredModelTag,
            {"model_id": "m.id"},
            f"{qn(RegisteredModelTag._meta.db_table)} t, {models_t} m WHERE t.model_id = %s AND {huge}",
            [base.pk],
        )
        # Version i over the tenant: model i // versions, number i % versions + 1 (as on MLflow's side).
        _copy(
            cursor,
            ModelVersion,
            {
                "model_id": "m.id",
                "version": "g",
                "creation_timestamp": "t.creation_timestamp + g",
                "last_updated_timestamp": "t.last_updated_timestamp + g",
            },
            f"{versions_t} t, {models_t} m, generate_series(1, %s) g WHERE t.id = %s AND {huge}",
            [versions, first.pk],
        )
        index = f"(substring(m.name from 6)::int * {int(versions)} + v.version - 1)"
        cursor.execute(
            f"INSERT INTO {qn(ModelVersionTag._meta.db_table)} (version_id, key, value) "
            f"SELECT v.id, k.kk, CASE k.kk WHEN 'batch' THEN 'b' || ({index} %% %s) "
            f"WHEN 'commit' THEN lpad(to_hex({index}), 8, '0') "
            f"WHEN 'split' THEN (CASE WHEN {index} %% 2 = 0 THEN 'x' ELSE 'y' END) END "
            f"FROM {versions_t} v JOIN {models_t} m ON m.id = v.model_id, "
            f"(VALUES ('batch'), ('commit'), ('split')) AS k(kk) WHERE {huge}",
            [batches],
        )
        tags = int(cursor.rowcount)
        _copy(
            cursor,
            ModelVersionFile,
            {"version_id": "v.id"},
            f"{qn(ModelVersionFile._meta.db_table)} t, {versions_t} v JOIN {models_t} m ON m.id = v.model_id "
            f"WHERE t.version_id = %s AND {huge}",
            [first.pk],
        )
    with connection.cursor() as cursor:
        tables = [
            RegisteredModel,
            RegisteredModelTag,
            ModelVersion,
            ModelVersionTag,
            ModelVersionFile,
        ]
        cursor.execute("ANALYZE " + ", ".join(qn(m._meta.db_table) for m in tables))
    total = ModelVersion.objects.filter(model__tenant=base.tenant_id, model__name__startswith="huge-").count()
    return {
        "models": made,
        "versions": total,
        "version_tags": tags,
        "seconds": round(time.monotonic() - started, 1),
    }


def count_queries(tenant: str, token: str, requests_by_op: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    out: dict[str, Any] = {}
    for op, reqs in requests_by_op.items():
        total = 0
        statuses = []
        sql: list[str] = []
        for req in reqs:
            path = f"/t/{tenant}/api/2.0/mlflow/{req['path']}"
            if req.get("params"):
                path += "?" + urlencode(req["params"])
            with CaptureQueriesContext(connection) as ctx:
                if req["method"] == "GET":
                    res = client.get(path)
                else:
                    res = client.post(
                        path, data=json.dumps(req.get("body") or {}), content_type="application/json"
                    )
            total += len(ctx.captured_queries)
            statuses.append(res.status_code)
            sql.extend(q["sql"] for q in ctx.captured_queries)
        out[op] = {"queries": total, "requests": len(reqs), "status": statuses, "sql": sql}
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    big = sub.add_parser("big")
    big.add_argument("--tenant", required=True)
    big.add_argument("--model", required=True)
    big.add_argument("--count", type=int, required=True)
    huge = sub.add_parser("huge")
    huge.add_argument("--tenant", required=True)
    huge.add_argument("--template", required=True)
    huge.add_argument("--models", type=int, required=True)
    huge.add_argument("--versions", type=int, required=True)
    huge.add_argument("--batches", type=int, required=True)
    queries = sub.add_parser("queries")
    queries.add_argument("--tenant", required=True)
    args = parser.parse_args()
    if args.cmd == "big":
        print(json.dumps(bulk_versions(args.tenant, args.model, args.count)))
    elif args.cmd == "huge":
        summary = huge_tenant(args.tenant, args.template, args.models, args.versions, args.batches)
        print(json.dumps(summary))
    else:
        print(json.dumps(count_queries(args.tenant, os.environ["BENCH_TOKEN"], json.load(sys.stdin))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
