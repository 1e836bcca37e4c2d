"""The native registry API: one view per resource, each method calling one service (writes) or selector (reads).

Lookups go through the registry selectors, which answer 404 for a model that is missing and for one the caller may
not read; the services check the level each write needs (403 when the model is visible but the level is missing).
Preconditions (`expected_stage`, `expected_version`, `If-Match`) are handed to the services, which compare them
under the model's row lock, so a stale one is a 409 and never a lost update."""

from __future__ import annotations

from .aliases import AliasView, ResolveView
from .models import (
    ModelDetailView,
    ModelListView,
    ModelOwnerView,
    ModelPermissionsView,
    ModelRenameView,
    ModelTagView,
)
from .versions import VersionDetailView, VersionListView, VersionStageView, VersionTagView

__all__ = [
    "AliasView",
    "ModelDetailView",
    "ModelListView",
    "ModelOwnerView",
    "ModelPermissionsView",
    "ModelRenameView",
    "ModelTagView",
    "ResolveView",
    "VersionDetailView",
    "VersionListView",
    "VersionStageView",
    "VersionTagView",
]
