"""Writes for the model registry: registered models, versions, stages, aliases, tags, ownership and grants; the
worker's side of registration. One module per concern; every public name is re-exported here, so callers write
`from registry import services` and `services.alias_set(...)`.

Every public function is one durable transaction that checks the caller's permission itself (so every route, native
API, MLflow API, web and admin, gets the same answer), locks the parent RegisteredModel row first, then what it
changes, validates, writes with `update_fields`, and ends with `registry.events.emit(...)` (the audit event, outbox
rows, and the Celery work scheduled on commit).

Locking order (fixed, to rule out deadlocks): Tenant row (only for the model quota) → RegisteredModel row →
ModelVersion / alias rows → the audit chain head (taken by `events.emit`). Everything that changes a model's
versions, stages or aliases holds the model row lock, which is what makes version numbers, "one Production after
an archiving promotion" and alias preconditions race-free."""

from __future__ import annotations

from registry.validation import (
    OWNER_TEAM_TAG,
    STAGES,
    canonical_stage,
    is_ownership_tag,
    is_protected_alias,
    parse_version_number,
    validate_alias,
    validate_model_name,
    validate_tag,
)

from .aliases import alias_delete, alias_set
from .gates import validate_gate
from .models import (
    registered_model_create,
    registered_model_delete,
    registered_model_delete_tag,
    registered_model_rename,
    registered_model_set_grants,
    registered_model_set_owner,
    registered_model_set_tag,
    registered_model_update,
)
from .policies import policy_for, transition_policy_delete, transition_policy_set
from .registration import REGISTER_TASK, enqueue_registration, manifest_sha256, registration_finalize
from .requests import (
    APPLY_TASK,
    enqueue_transition_request_apply,
    transition_request_apply,
    transition_request_approve,
    transition_request_cancel,
    transition_request_create,
    transition_request_reject,
)
from .stages import GateFailure, model_version_transition_stage, stage_level
from .versions import (
    model_version_create,
    model_version_delete,
    model_version_delete_tag,
    model_version_set_tag,
    model_version_update,
)

__all__ = [
    "APPLY_TASK",
    "GateFailure",
    "REGISTER_TASK",
    "OWNER_TEAM_TAG",
    "STAGES",
    "alias_delete",
    "alias_set",
    "canonical_stage",
    "enqueue_registration",
    "enqueue_transition_request_apply",
    "is_ownership_tag",
    "is_protected_alias",
    "manifest_sha256",
    "model_version_create",
    "model_version_delete",
    "model_version_delete_tag",
    "model_version_set_tag",
    "model_version_transition_stage",
    "model_version_update",
    "parse_version_number",
    "policy_for",
    "registered_model_create",
    "registered_model_delete",
    "registered_model_delete_tag",
    "registered_model_rename",
    "registered_model_set_grants",
    "registered_model_set_owner",
    "registered_model_set_tag",
    "registered_model_update",
    "registration_finalize",
    "stage_level",
    "transition_policy_delete",
    "transition_policy_set",
    "transition_request_apply",
    "transition_request_approve",
    "transition_request_cancel",
    "transition_request_create",
    "transition_request_reject",
    "validate_alias",
    "validate_gate",
    "validate_model_name",
    "validate_tag",
]
