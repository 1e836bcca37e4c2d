"""The audit chain is verifiable: every stored field is hashed, tampering (done as an attacker who can disable the
append-only trigger) is found at the right sequence number, the trigger refuses updates and deletes, and appends
cost two statements."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext

from accounts import services as account_services
from registry import audit
from registry.audit.hashing import GENESIS_HASH, content_v1
from registry.models import AuditChainHead, AuditEvent
from tests.registry.audit_helpers import append, last_seq, tamper

pytestmark = pytest.mark.django_db


def test_a_fresh_chain_verifies(tenant, owner, tenant_admin):
    result = audit.verify_chain(tenant)
    assert result.ok, result
    assert result.events == AuditEvent.objects.filter(tenant=tenant).count() > 3
    assert result.first_bad_seq is None
    assert list(AuditEvent.objects.filter(tenant=tenant).values_list("seq", flat=True)) == list(
        range(1, result.events + 1)
    )


def test_every_stored_field_is_in_the_hash(tenant, owner):
    event = AuditEvent.objects.filter(tenant=tenant).order_by("-seq").first()
    content = audit.event_content(event)
    assert event.hash_version == 2
    assert set(content) == {
        "hash_version",
        "tenant",
        "seq",
        "created_at",
        "actor_id",
        "actor_name",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "model_id",
        "version",
        "before",
        "after",
        "prev_hash",
    }
    assert event.hash == hashlib.sha256(audit.canonical(content)).hexdigest()


def test_the_actor_is_recorded_by_id_and_name(tenant, tenant_admin):
    account_services.token_issue(user=tenant_admin, tenant=tenant, actor=tenant_admin)
    event = AuditEvent.objects.get(tenant=tenant, action="token.issued", actor_name="ada")
    assert event.actor_id == tenant_admin.pk


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("actor_id", 999999),
        ("actor_name", "mallory"),
        ("object_repr", "something else"),
        ("after", json.dumps({"i": 1, "auc": 0.99})),
        ("created_at", "2001-01-01T00:00:00Z"),
    ],
)
def test_an_updated_field_is_detected_at_its_sequence_number(tenant, column, value):
    events = append(tenant, 5)
    target = events[2].seq
    cast = "::jsonb" if column == "after" else ""
    assert (
        tamper(
            f"UPDATE registry_auditevent SET {column} = %s{cast} WHERE tenant_id = %s AND seq = %s",
            [
                value,
                tenant.pk,
                target,
            ],
        )
        == 1
    )
    result = audit.verify_chain(tenant)
    assert not result.ok
    assert result.first_bad_seq == target, result
    assert "altered" in result.reason


def test_a_deleted_middle_event_is_detected_as_missing(tenant):
    events = append(tenant, 5)
    target = events[1].seq
    assert (
        tamper("DELETE FROM registry_auditevent WHERE tenant_id = %s AND seq = %s", [tenant.pk, target]) == 1
    )
    result = audit.verify_chain(tenant)
    assert (result.ok, result.first_bad_seq) == (False, target), result
    assert "missing" in result.reason


def test_deleting_the_newest_events_without_rewinding_the_head_is_detected(tenant):
    events = append(tenant, 3)
    tamper("DELETE FROM registry_auditevent WHERE tenant_id = %s AND seq >= %s", [tenant.pk, events[1].seq])
    result = audit.verify_chain(tenant)
    assert (result.ok, result.first_bad_seq) == (False, events[1].seq), result


def test_rewinding_the_head_below_the_events_is_detected(tenant):
    events = append(tenant, 3)
    keep = events[0]
    tamper(
        "UPDATE registry_auditchainhead SET last_seq = %s, last_hash = %s WHERE tenant_id = %s",
        [keep.seq, keep.hash, tenant.pk],
    )
    result = audit.verify_chain(tenant)
    assert (result.ok, result.first_bad_seq) == (False, keep.seq + 1), result
    assert "beyond the chain head" in result.reason


def test_a_relinked_rewrite_is_still_caught_by_the_next_link(tenant):
    """An attacker who also recomputes the altered event's hash breaks the link of the event after it."""
    events = append(tenant, 3)
    target = AuditEvent.objects.get(pk=events[0].pk)
    target.actor_name = "mallory"
    new_hash = audit.compute_hash(target)
    tamper(
        "UPDATE registry_auditevent SET actor_name = %s, hash = %s WHERE id = %s",
        ["mallory", new_hash, target.pk],
    )
    result = audit.verify_chain(tenant)
    assert (result.ok, result.first_bad_seq) == (False, events[1].seq), result
    assert "does not link" in result.reason


def test_the_trigger_refuses_update_and_delete_of_events(tenant):
    event = AuditEvent.objects.filter(tenant=tenant).first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(actor_name="mallory")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM registry_auditevent WHERE tenant_id = %s", [tenant.pk])
    assert AuditEvent.objects.get(pk=event.pk).actor_name == event.actor_name
    assert audit.verify_chain(tenant).ok


def test_the_trigger_refuses_to_move_the_chain_head_backwards(tenant):
    with pytest.raises(DatabaseError, match="only moves forward"), transaction.atomic():
        AuditChainHead.objects.filter(tenant=tenant).update(last_seq=0)


def test_a_tenant_with_audit_events_cannot_be_deleted(tenant):
    with pytest.raises(ProtectedError), transaction.atomic():
        tenant.delete()
    assert audit.verify_chain(tenant).ok


def test_deleting_a_user_leaves_the_audit_rows_untouched(tenant, tenant_admin):
    account_services.token_issue(user=tenant_admin, tenant=tenant, actor=tenant_admin)
    user_id = tenant_admin.pk
    tenant_admin.delete()  # no FK from audit rows: nothing to set NULL, so the trigger has nothing to refuse
    assert AuditEvent.objects.filter(tenant=tenant, actor_id=user_id, action="token.issued").exists()
    assert audit.verify_chain(tenant).ok


def test_an_append_costs_one_statement(tenant):
    append(tenant, 1)  # the head row exists from the tenant's first event on
    with CaptureQueriesContext(connection) as queries:
        append(tenant, 1)
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"].upper()]
    assert len(statements) == 1, statements
    assert statements[0].startswith("WITH h AS (UPDATE") and "INSERT INTO" in statements[0]
    assert audit.verify_chain(tenant).ok


def test_hashes_the_database_computes_verify_for_awkward_content(tenant):
    """The one-statement append hashes in PostgreSQL around Python's canonical JSON: quotes, backslashes,
    non-ASCII, nested keys that sort around `prev_hash` and `seq`, and numbers must all come out byte-identical."""
    from registry import events

    awkward = {
        "prev_hash": 'x"y\\z',
        "seq": "ü€😀",
        "nested": {"seq": 1, "prev_hash": None, "é": [1.5, 2.0, "\n\t"]},
    }
    with transaction.atomic():
        for n in range(3):
            events.emit(
                tenant=tenant, actor=None, action="test.awkward", obj=tenant, before=awkward, after={"n": n}
            )
    head = AuditChainHead.objects.get(tenant=tenant)
    newest = AuditEvent.objects.filter(tenant=tenant).order_by("-seq").first()
    assert (head.last_seq, head.last_hash) == (newest.seq, newest.hash)
    assert audit.verify_chain(tenant).ok


def test_content_that_cannot_be_split_takes_the_two_statement_path(tenant, monkeypatch):
    from registry.audit import chain

    append(tenant, 1)
    monkeypatch.setattr(chain, "_split_canonical", lambda event: None)
    with CaptureQueriesContext(connection) as queries:
        append(tenant, 1)
    statements = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"].upper()]
    assert len(statements) == 2, statements
    assert audit.verify_chain(tenant).ok


def test_integral_floats_verify_after_the_jsonb_round_trip(tenant):
    from registry import events

    with transaction.atomic():
        events.emit(
            tenant=tenant, actor=None, action="test.floats", obj=tenant, after={"a": 2.0, "b": 1e20, "c": 0.1}
        )
    assert audit.verify_chain(tenant).ok


def test_old_version_1_events_still_verify_and_a_downgrade_is_refused(other_tenant):
    """Events written before every field was hashed keep their version-1 hashes and verify; a version-1 event
    after version-2 ones is refused (someone rewrote it with the weaker content)."""
    tenant = other_tenant
    n = last_seq(tenant)
    head = AuditChainHead.objects.get(tenant=tenant)
    # Re-chain the tenant as an old installation would have it: its events, hashed with version 1.
    tamper("DELETE FROM registry_auditevent WHERE tenant_id = %s", [tenant.pk])
    prev = GENESIS_HASH
    from django.utils import timezone

    for seq in range(1, n + 1):
        event = AuditEvent(
            tenant=tenant,
            seq=seq,
            created_at=timezone.now(),
            actor_name="system",
            action="legacy",
            object_type="tenant",
            object_id=str(tenant.pk),
            object_repr="anything: not hashed in version 1",
            prev_hash=prev,
            hash_version=1,
        )
        event.hash = hashlib.sha256(audit.canonical(content_v1(event))).hexdigest()
        event.save()
        prev = event.hash
    tamper("UPDATE registry_auditchainhead SET last_hash = %s WHERE id = %s", [prev, head.pk])
    append(tenant, 2)
    assert audit.verify_chain(tenant).ok
    newest = AuditEvent.objects.get(tenant=tenant, seq=n + 2)
    downgraded = AuditEvent.objects.get(pk=newest.pk)
    downgraded.hash_version = 1
    tamper(
        "UPDATE registry_auditevent SET hash_version = 1, hash = %s WHERE id = %s",
        [hashlib.sha256(audit.canonical(content_v1(downgraded))).hexdigest(), newest.pk],
    )
    result = audit.verify_chain(tenant)
    assert (result.ok, result.first_bad_seq) == (False, n + 2), result
    assert "downgrade" in result.reason


@pytest.fixture
def root_client(client, db):
    from django.contrib.auth import get_user_model

    root = get_user_model().objects.create_superuser("root", "root@example.com", "root-pw-123")
    client.force_login(root)
    return client


def test_the_admin_refuses_to_delete_a_tenant_without_a_500(root_client, tenant):
    res = root_client.post(f"/admin/tenants/tenant/{tenant.pk}/delete/", {"post": "yes"})
    assert res.status_code == 403
    res = root_client.post(
        "/admin/tenants/tenant/",
        {"action": "delete_selected", "_selected_action": [tenant.pk], "post": "yes"},
    )
    assert res.status_code in (200, 302)
    assert type(tenant).objects.filter(pk=tenant.pk).exists()
    assert audit.verify_chain(tenant).ok


def test_deleting_a_user_does_not_touch_the_audit_log(root_client, tenant, viewer):
    from tenants import services as tenant_services

    tenant_services.team_create(tenant=tenant, slug="gamma", actor=viewer)
    # The admin deactivates users rather than deleting them; a deletion (from a shell) leaves the log intact.
    assert root_client.post(f"/admin/accounts/user/{viewer.pk}/delete/", {"post": "yes"}).status_code == 403
    type(viewer).objects.filter(pk=viewer.pk).delete()
    assert not type(viewer).objects.filter(pk=viewer.pk).exists()
    assert AuditEvent.objects.filter(tenant=tenant, actor_id=viewer.pk, action="team.created").exists()
    assert audit.verify_chain(tenant).ok
