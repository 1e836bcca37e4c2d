"""The audit chain under real load: a mixed workload through the services and the real worker verifies, with a
checkpoint written by the worker; concurrent appends to one tenant get sequence numbers 1..N without gaps or
duplicates."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from accounts import services as account_services
from registry import audit, events, selectors, services
from registry.models import AuditChainHead, AuditEvent, VersionStatus
from registry.tasks import audit_checkpoint
from tenants import services as tenant_services
from tests.helpers import drain_registrations, make_logged_model, principal

pytestmark = pytest.mark.django_db(transaction=True)

ALL_SCOPES = ["read", "write", "promote", "admin"]


def test_the_chain_verifies_after_a_mixed_workload(
    worker, tenant, team, other_team, owner, teammate, tenant_admin
):
    admin = principal(tenant_admin, tenant, ALL_SCOPES)
    tenant_services.tenant_update(tenant=tenant, quota_models=50, actor=tenant_admin)
    _sa, _secret = account_services.service_account_create(
        tenant=tenant, name="ci", role="member", team=team, actor=tenant_admin
    )
    token, _ = account_services.token_issue(user=owner, tenant=tenant, actor=tenant_admin)
    account_services.token_revoke(token=token, actor=tenant_admin)
    tenant_services.team_member_add(team=other_team, user=owner, actor=tenant_admin)
    tenant_services.team_member_remove(team=other_team, user=owner, actor=tenant_admin)

    model = services.registered_model_create(principal=admin, name="churn", owner_team=team.slug)
    services.registered_model_set_grants(
        principal=admin, model=model, grants=[{"team": other_team.slug, "level": "read"}]
    )
    versions = []
    for _ in range(2):
        logged = make_logged_model(tenant)
        version = services.model_version_create(
            principal=admin, model=model, source=f"models:/{logged.model_id}"
        )
        versions.append(selectors.wait_until_registered(version, timeout=30))
    assert [v.status for v in versions] == [VersionStatus.READY, VersionStatus.READY]
    services.model_version_transition_stage(principal=admin, version=versions[0], stage="Staging")
    services.model_version_transition_stage(
        principal=admin, version=versions[1], stage="Production", archive_existing_versions=True
    )
    services.alias_set(principal=admin, model=model, alias="champion", version=2)
    services.alias_set(principal=admin, model=model, alias="challenger", version=1)
    services.alias_delete(principal=admin, model=model, alias="challenger")
    drain_registrations()

    actions = set(AuditEvent.objects.filter(tenant=tenant).values_list("action", flat=True))
    assert {
        "model_version.ready",
        "model_version.stage_changed",
        "model_version_alias.set",
        "model_version_alias.deleted",
        "registered_model.grants_replaced",
        "token.revoked",
        "service_account.created",
    } <= actions

    # The beat task, run by the real worker, checkpoints the chain; verification agrees with it.
    assert audit_checkpoint.apply_async(ignore_result=False).get(timeout=60) >= 1
    result = audit.verify_chain(tenant)
    n = AuditEvent.objects.filter(tenant=tenant).count()
    assert result.ok, result
    assert result.events == n
    assert result.checkpoint is not None and result.checkpoint["seq"] == n
    assert AuditChainHead.objects.get(tenant=tenant).checkpointed_seq == n


def test_concurrent_appends_get_sequence_numbers_without_gaps(tenant):
    threads_n, per_thread = 6, 15
    before = AuditChainHead.objects.get(tenant=tenant).last_seq
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def appender(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(per_thread):
                with transaction.atomic():
                    events.emit(
                        tenant=tenant, actor=None, action="test.concurrent", obj=tenant, after={"t": i}
                    )
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=appender, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    seqs = list(AuditEvent.objects.filter(tenant=tenant).order_by("seq").values_list("seq", flat=True))
    total = before + threads_n * per_thread
    assert seqs == list(range(1, total + 1))
    assert AuditChainHead.objects.get(tenant=tenant).last_seq == total
    result = audit.verify_chain(tenant)
    assert result.ok and result.events == total, result
