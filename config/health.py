"""Liveness and readiness. `/readyz` checks the database, the broker (Redis) and artifact storage, and says which
one failed. Only a platform admin (session superuser) sees why: the error strings name internal hosts and ports,
which are nobody else's business (the probe is called anonymously)."""

from __future__ import annotations

import time
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import connection
from django.http import JsonResponse

from tenants.access import is_platform_admin


def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_redis() -> None:
    import redis
    from django.conf import settings
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    # Readiness must answer quickly when Redis is down: one short attempt, no retries.
    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
    finally:
        client.close()


def _check_storage() -> None:
    storage = storages["artifacts"]
    name = f"_readyz/{uuid.uuid4().hex}"
    saved = storage.save(name, ContentFile(b"ok"))
    try:
        with storage.open(saved, "rb") as fh:
            if fh.read() != b"ok":
                raise RuntimeError("read back different bytes")
    finally:
        storage.delete(saved)


CHECKS = {"database": _check_database, "redis": _check_redis, "storage": _check_storage}


def readyz(request):
    results: dict[str, dict] = {}
    ok = True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
            results[name] = {"ok": True}
        except Exception as exc:  # report every failure, whatever its kind
            ok = False
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        results[name]["ms"] = round((time.monotonic() - started) * 1000, 1)
    if not is_platform_admin(getattr(request, "user", None), None):
        for result in results.values():
            result.pop("error", None)
    failed = [name for name, r in results.items() if not r["ok"]]
    body = {"status": "ok" if ok else "unavailable", "checks": results}
    if failed:
        body["message"] = f"Not ready: {', '.join(failed)} unavailable."
    return JsonResponse(body, status=200 if ok else 503)
