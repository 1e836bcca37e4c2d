"""Mounted by config.urls at `t/<tenant>/api/v1/`."""

from __future__ import annotations

from django.urls import path

from . import audit, history, usage, views
from . import requests as governance
from . import webhooks as webhook_views
from .views import uploads as upload_views

urlpatterns = [
    path("models/", views.ModelListView.as_view(), name="registry-models"),
    path("models/<str:name>", views.ModelDetailView.as_view(), name="registry-model"),
    path("models/<str:name>/rename", views.ModelRenameView.as_view(), name="registry-model-rename"),
    path("models/<str:name>/tags/<str:key>", views.ModelTagView.as_view(), name="registry-model-tag"),
    path("models/<str:name>/owner", views.ModelOwnerView.as_view(), name="registry-model-owner"),
    path(
        "models/<str:name>/permissions",
        views.ModelPermissionsView.as_view(),
        name="registry-model-permissions",
    ),
    path("models/<str:name>/resolve", views.ResolveView.as_view(), name="registry-model-resolve"),
    path("models/<str:name>/versions/", views.VersionListView.as_view(), name="registry-versions"),
    path(
        "models/<str:name>/versions/<int:version>", views.VersionDetailView.as_view(), name="registry-version"
    ),
    path(
        "models/<str:name>/versions/<int:version>/stage",
        views.VersionStageView.as_view(),
        name="registry-version-stage",
    ),
    path(
        "models/<str:name>/versions/<int:version>/tags/<str:key>",
        views.VersionTagView.as_view(),
        name="registry-version-tag",
    ),
    path("models/<str:name>/aliases/<str:alias>", views.AliasView.as_view(), name="registry-alias"),
    # Usage against the tenant's quotas (registry/api/usage.py).
    path("usage", usage.UsageView.as_view(), name="tenant-usage"),
    # The audit log (registry/api/audit.py).
    path("audit", audit.AuditListView.as_view(), name="audit-list"),
    path("audit/verify", audit.AuditVerifyView.as_view(), name="audit-verify"),
    # --- webhooks ---
    path("webhooks", webhook_views.WebhookListView.as_view(), name="registry-webhooks"),
    path("webhooks/<str:webhook_id>", webhook_views.WebhookDetailView.as_view(), name="registry-webhook"),
    path(
        "webhooks/<str:webhook_id>/deliveries",
        webhook_views.DeliveryListView.as_view(),
        name="registry-webhook-deliveries",
    ),
    path(
        "webhooks/<str:webhook_id>/deliveries/<str:delivery_id>/replay",
        webhook_views.DeliveryReplayView.as_view(),
        name="registry-webhook-delivery-replay",
    ),
    # History and provenance (registry/api/history.py)
    path("models/<str:name>/stages", history.StagesAtView.as_view(), name="registry-model-stages-at"),
    path(
        "models/<str:name>/versions/<int:version>/provenance",
        history.ProvenanceView.as_view(),
        name="registry-version-provenance",
    ),
    # --- governance: transition requests and policies ---
    path(
        "transition-requests",
        governance.TransitionRequestListView.as_view(),
        name="registry-transition-requests",
    ),
    path(
        "transition-requests/<int:request_id>",
        governance.TransitionRequestDetailView.as_view(),
        name="registry-transition-request",
    ),
    path(
        "transition-requests/<int:request_id>/approve",
        governance.TransitionRequestApproveView.as_view(),
        name="registry-transition-request-approve",
    ),
    path(
        "transition-requests/<int:request_id>/reject",
        governance.TransitionRequestRejectView.as_view(),
        name="registry-transition-request-reject",
    ),
    path(
        "transition-requests/<int:request_id>/cancel",
        governance.TransitionRequestCancelView.as_view(),
        name="registry-transition-request-cancel",
    ),
    path(
        "models/<str:name>/transition-requests",
        governance.ModelTransitionRequestListView.as_view(),
        name="registry-model-transition-requests",
    ),
    path(
        "models/<str:name>/policies", governance.ModelPolicyListView.as_view(), name="registry-model-policies"
    ),
    path(
        "models/<str:name>/policies/<str:stage>",
        governance.ModelPolicyView.as_view(),
        name="registry-model-policy",
    ),
    # --- resumable uploads of run artifacts (registry/api/views/uploads.py) ---
    path("uploads", upload_views.UploadListView.as_view(), name="artifact-uploads"),
    path("uploads/<str:session_id>", upload_views.UploadDetailView.as_view(), name="artifact-upload"),
    path(
        "uploads/<str:session_id>/parts/<int:number>",
        upload_views.UploadPartView.as_view(),
        name="artifact-upload-part",
    ),
    path(
        "uploads/<str:session_id>/complete",
        upload_views.UploadCompleteView.as_view(),
        name="artifact-upload-complete",
    ),
]
