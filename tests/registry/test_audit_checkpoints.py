"""Signed checkpoints in artifact storage: written by the beat task for tenants whose chain moved, signed with
MODELGATE_AUDIT_KEY, and used by verification to detect truncation (newest events deleted, head rewound) and
forgery. Plus `manage.py verify_audit`'s output and exit codes."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from config.celery_app import app
from registry import audit
from registry.audit import checkpoints
from registry.models import AuditChainHead, AuditEvent
from tests.helpers import ROOT
from tests.registry.audit_helpers import append, last_seq, tamper

pytestmark = pytest.mark.django_db


def checkpoint_file(tenant, name: str = "latest") -> Path:
    return Path(settings.ARTIFACT_ROOT) / checkpoints.key_for(tenant.pk, name)


def test_the_beat_schedule_runs_the_checkpoint_task():
    entries = {entry["task"]: entry for entry in app.conf.beat_schedule.values()}
    assert entries["modelgate.audit_checkpoint"]["schedule"] <= 600


def test_a_checkpoint_is_signed_and_stored_outside_the_database(tenant):
    append(tenant, 2)
    seq = audit.checkpoint_tenant(tenant.pk)
    assert seq == last_seq(tenant)
    latest = json.loads(checkpoint_file(tenant).read_text())
    assert json.loads(checkpoint_file(tenant, str(seq)).read_text()) == latest
    head = AuditChainHead.objects.get(tenant=tenant)
    assert (latest["tenant"], latest["seq"], latest["hash"]) == (tenant.pk, head.last_seq, head.last_hash)
    body = audit.canonical({k: latest[k] for k in ("tenant", "seq", "hash", "time")})
    key = hmac.new(settings.SECRET_KEY.encode(), b"modelgate.audit-checkpoint.v1", hashlib.sha256).digest()
    assert latest["hmac"] == hmac.new(key, body, hashlib.sha256).hexdigest()
    result = audit.verify_chain(tenant)
    assert result.ok and result.checkpoint["seq"] == seq and result.checkpoint["signature_ok"]


def test_the_key_comes_from_modelgate_audit_key(tenant, monkeypatch):
    monkeypatch.setenv("MODELGATE_AUDIT_KEY", "k" * 40)
    audit.checkpoint_tenant(tenant.pk)
    latest = json.loads(checkpoint_file(tenant).read_text())
    body = audit.canonical({k: latest[k] for k in ("tenant", "seq", "hash", "time")})
    assert latest["hmac"] == hmac.new(b"k" * 40, body, hashlib.sha256).hexdigest()
    assert audit.verify_chain(tenant).ok
    monkeypatch.setenv("MODELGATE_AUDIT_KEY", "another key")
    result = audit.verify_chain(tenant)
    assert not result.ok and "signature" in result.reason


def test_an_unmoved_tenant_is_not_checkpointed_again(tenant):
    first = audit.checkpoint_tenant(tenant.pk)
    assert first is not None
    assert audit.checkpoint_tenant(tenant.pk) is None
    assert audit.checkpoint_all() == 0
    append(tenant, 1)
    assert audit.checkpoint_all() == 1
    assert json.loads(checkpoint_file(tenant).read_text())["seq"] == first + 1


def test_truncation_with_a_rewound_head_is_detected_against_the_checkpoint(tenant):
    events = append(tenant, 4)
    audit.checkpoint_tenant(tenant.pk)
    keep = events[1]
    # The attacker deletes the two newest events and rewinds the head: the chain itself is consistent again.
    tamper("DELETE FROM registry_auditevent WHERE tenant_id = %s AND seq > %s", [tenant.pk, keep.seq])
    tamper(
        "UPDATE registry_auditchainhead SET last_seq = %s, last_hash = %s WHERE tenant_id = %s",
        [keep.seq, keep.hash, tenant.pk],
    )
    result = audit.verify_chain(tenant)
    assert not result.ok
    assert result.first_bad_seq == keep.seq + 1, result
    assert f"checkpointed at {events[-1].seq}" in result.reason
    assert result.events == keep.seq


def test_the_checkpoint_is_used_when_latest_json_is_removed(tenant):
    events = append(tenant, 2)
    audit.checkpoint_tenant(tenant.pk)
    checkpoint_file(tenant).unlink()
    tamper("DELETE FROM registry_auditevent WHERE tenant_id = %s AND seq = %s", [tenant.pk, events[-1].seq])
    tamper(
        "UPDATE registry_auditchainhead SET last_seq = %s, last_hash = %s WHERE tenant_id = %s",
        [events[0].seq, events[0].hash, tenant.pk],
    )
    assert audit.verify_chain(tenant).first_bad_seq == events[-1].seq


def test_a_forged_checkpoint_is_reported(tenant):
    append(tenant, 2)
    audit.checkpoint_tenant(tenant.pk)
    path = checkpoint_file(tenant)
    forged = json.loads(path.read_text())
    forged["seq"] -= 1  # claim a shorter chain, e.g. to cover a truncation
    path.write_text(json.dumps(forged))
    result = audit.verify_chain(tenant)
    assert not result.ok
    assert result.first_bad_seq is None
    assert "signature is invalid" in result.reason
    assert result.checkpoint["signature_ok"] is False
    # A checkpoint with a bad signature is not built upon either.
    append(tenant, 1)
    assert audit.checkpoint_tenant(tenant.pk) is None


def test_a_tampered_chain_is_not_checkpointed(tenant):
    events = append(tenant, 3)
    tamper("UPDATE registry_auditevent SET actor_name = 'x' WHERE id = %s", [events[1].pk])
    assert audit.checkpoint_tenant(tenant.pk) is None
    assert not checkpoint_file(tenant).exists()


# --- manage.py verify_audit ---------------------------------------------------------------------------------------


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_verify_audit_reports_an_intact_chain(tenant):
    audit.checkpoint_tenant(tenant.pk)
    out = run("verify_audit", "acme")
    n = AuditEvent.objects.filter(tenant=tenant).count()
    assert f"intact: {n} events (checkpoint at seq {n})" in out


def test_verify_audit_names_the_first_bad_sequence_number_and_fails(tenant):
    events = append(tenant, 3)
    tamper("UPDATE registry_auditevent SET object_repr = 'x' WHERE id = %s", [events[1].pk])
    with pytest.raises(CommandError) as info:
        run("verify_audit", "acme")
    assert info.value.returncode == 1
    message = str(info.value)
    assert f"at seq {events[1].seq}" in message and "altered" in message and "\n" not in message


def test_verify_audit_refuses_an_unknown_tenant_in_one_line(db):
    with pytest.raises(CommandError) as info:
        run("verify_audit", "nope")
    assert info.value.returncode == 2
    assert str(info.value) == "Tenant 'nope' not found."


@pytest.mark.django_db(transaction=True)
def test_verify_audit_exit_codes_from_the_command_line(tenant):
    from django.db import connection

    from tests.helpers import worker_env

    env = worker_env(connection.settings_dict["NAME"])

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    ok = manage("verify_audit", "acme")
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout
    unknown = manage("verify_audit", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == ["CommandError: Tenant 'nope' not found."]
    event = AuditEvent.objects.filter(tenant=tenant).order_by("seq")[1]
    tamper("UPDATE registry_auditevent SET after = '{}'::jsonb WHERE id = %s", [event.pk])
    broken = manage("verify_audit", "acme")
    assert broken.returncode == 1
    assert f"at seq {event.seq}" in broken.stderr
