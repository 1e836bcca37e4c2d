"""Reads of resumable upload sessions, through the artifact gatekeeper: a session belongs to its run's experiment,
and reading or writing it needs the same level there as reading or writing the artifact path. A missing session and
one of another tenant answer the same 404."""

from __future__ import annotations

import uuid

from config.errors import NotFound
from tenants.access import Principal

from ..selectors import artifact_experiment
from .models import UploadSession


def upload_session_for(principal: Principal, session_id: str, level: str) -> UploadSession:
    """The caller's tenant's session, with `level` ("read" or "edit") checked on its experiment."""
    try:
        pk = uuid.UUID(str(session_id))
    except ValueError:
        raise NotFound(f"No upload session '{session_id}'.") from None
    session = UploadSession.objects.for_tenant(principal.tenant).filter(pk=pk).first()
    if session is None:
        raise NotFound(f"No upload session '{session_id}'.")
    artifact_experiment(principal, session.path, level)
    return session


def stored_parts(session: UploadSession) -> list[dict]:
    """The parts stored so far: number, size and sha256, by number."""
    return [dict(row) for row in session.parts.order_by("number").values("number", "size", "sha256")]


def missing_parts(session: UploadSession) -> list[int]:
    have = set(session.parts.values_list("number", flat=True))
    return [n for n in range(1, session.part_count + 1) if n not in have]
