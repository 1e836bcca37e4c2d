"""Fixtures shared by the MLflow tracking API tests."""

from __future__ import annotations

import pytest

from tests.helpers import client_for, issue


@pytest.fixture
def mlflow(owner, tenant):
    return client_for(issue(owner, tenant))
