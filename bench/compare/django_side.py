"""Modelgate-side helpers of the comparison, run in Modelgate's venv with its environment (a script, not imported):

python bench/compare/django_side.py big --tenant T --model M --count N
    copy version 1 of model M into versions 2..N (the 20,000-version case); prints a JSON summary
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

from registry.models import ModelVersion, ModelVersionFile, RegisteredModel  # noqa: E402

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
    queries = sub.add_parser("queries")
    queries.add_argument("--tenant", required=True)
    args = parser.parse_args()
    if args.cmd == "big":
        print(json.dumps(bulk_versions(args.tenant, args.model, args.count)))
    else:
        print(json.dumps(count_queries(args.tenant, os.environ["BENCH_TOKEN"], json.load(sys.stdin))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
