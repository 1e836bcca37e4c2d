"""Fixtures of the registry tests: a clean slate of audit checkpoints in artifact storage for each test (tenant ids
can repeat between tests, and a checkpoint left by an earlier test would be compared with this test's chain)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings


@pytest.fixture(autouse=True)
def _no_stale_audit_checkpoints():
    root = Path(settings.ARTIFACT_ROOT) / "tenants"
    if root.is_dir():
        for audit_dir in root.glob("*/audit"):
            shutil.rmtree(audit_dir, ignore_errors=True)
    yield
