"""Web pages of one tenant, mounted by config.urls under `t/<str:tenant>/` after every API route. Governance pages
(transition requests, audit) and tenant settings follow the tracking pages; their links are in `templates/web/base.html`."""

from __future__ import annotations

from django.urls import path

from .views import (
    audit,
    dashboard,
    experiments,
    models,
    requests,
    runs,
    settings,
    settings_governance,
    settings_webhooks,
    tokens,
    versions,
)

app_name = "web"

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("go/", dashboard.go, name="go"),
    path("models/", models.model_list, name="models"),
    path("models/<str:name>/", models.model_detail, name="model"),
    path("models/<str:name>/grants/", models.model_grants, name="model-grants"),
    path("models/<str:name>/versions/<int:version>/", versions.version_detail, name="version"),
    path(
        "models/<str:name>/versions/<int:version>/transition/",
        versions.version_transition,
        name="version-transition",
    ),
    path("models/<str:name>/versions/<int:version>/alias/", versions.alias_set, name="alias-set"),
    path(
        "models/<str:name>/versions/<int:version>/alias/delete/", versions.alias_delete, name="alias-delete"
    ),
    path("experiments/", experiments.experiment_list, name="experiments"),
    path("experiments/<str:experiment_id>/", experiments.experiment_detail, name="experiment"),
    path("runs/compare/", runs.run_compare, name="compare"),
    path("runs/<str:run_id>/", runs.run_detail, name="run"),
    path("tokens/", tokens.token_list, name="tokens"),
    path("tokens/<int:token_id>/revoke/", tokens.token_revoke, name="token-revoke"),
    # Governance: transition requests (registry/web/views/requests.py)
    path("requests/", requests.request_list, name="requests"),
    path("requests/<int:request_id>/", requests.request_detail, name="request"),
    path("requests/<int:request_id>/<str:verb>/", requests.request_decide, name="request-decide"),
    path("models/<str:name>/versions/<int:version>/request/", requests.request_create, name="request-create"),
    # Governance: the audit log (registry/web/views/audit.py)
    path("audit/", audit.audit_list, name="audit"),
    path("audit/verify/", audit.audit_verify, name="audit-verify"),
    # Tenant settings, tenant admins only (registry/web/views/settings.py)
    path("settings/", settings.settings_page, name="settings"),
    path("settings/members/", settings.member_add, name="settings-member-add"),
    path("settings/members/<str:username>/role/", settings.member_role, name="settings-member-role"),
    path("settings/members/<str:username>/remove/", settings.member_remove, name="settings-member-remove"),
    path("settings/teams/", settings.team_create, name="settings-team-create"),
    # Before the generic "<verb>" route below, which would otherwise take "rename" and "delete" as verbs.
    path("settings/teams/<str:team>/rename/", settings.team_rename, name="settings-team-rename"),
    path("settings/teams/<str:team>/delete/", settings.team_delete, name="settings-team-delete"),
    path("settings/teams/<str:team>/<str:verb>/", settings.team_member, name="settings-team-member"),
    path(
        "settings/tokens/<int:token_id>/revoke/", settings.account_token_revoke, name="settings-token-revoke"
    ),
    path("settings/policies/", settings_governance.policy_set, name="settings-policy"),
    path("settings/policies/delete/", settings_governance.policy_delete, name="settings-policy-delete"),
    # Webhooks (registry/web/views/settings_webhooks.py)
    path("settings/webhooks/", settings_webhooks.webhook_create, name="settings-webhook-create"),
    path(
        "settings/webhooks/<int:webhook_id>/active/",
        settings_webhooks.webhook_active,
        name="settings-webhook-active",
    ),
    path(
        "settings/webhooks/<int:webhook_id>/delete/",
        settings_webhooks.webhook_delete,
        name="settings-webhook-delete",
    ),
    path(
        "settings/webhooks/<int:webhook_id>/deliveries/<str:delivery_id>/replay/",
        settings_governance.delivery_replay,
        name="settings-delivery-replay",
    ),
]
