"""On PostgreSQL, the database itself refuses to UPDATE or DELETE an audit event, and refuses to move a tenant's
audit chain head backwards. Row-level triggers do not fire on TRUNCATE, so test-database flushes keep working; an
attacker with owner rights can still disable them, which is what the hash chain and the signed checkpoints are for.
SQLite (the embedded default) has no such trigger: there is nothing to do there."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION modelgate_audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'registry_auditevent is append-only: % of audit event % refused', TG_OP, OLD.seq
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER auditevent_append_only
    BEFORE UPDATE OR DELETE ON registry_auditevent
    FOR EACH ROW EXECUTE FUNCTION modelgate_audit_event_append_only();

CREATE OR REPLACE FUNCTION modelgate_audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.last_seq < OLD.last_seq OR NEW.tenant_id <> OLD.tenant_id THEN
        RAISE EXCEPTION 'registry_auditchainhead only moves forward: seq % -> % refused', OLD.last_seq, NEW.last_seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER auditchainhead_forward_only
    BEFORE UPDATE ON registry_auditchainhead
    FOR EACH ROW EXECUTE FUNCTION modelgate_audit_head_forward_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS auditchainhead_forward_only ON registry_auditchainhead;
DROP FUNCTION IF EXISTS modelgate_audit_head_forward_only();
DROP TRIGGER IF EXISTS auditevent_append_only ON registry_auditevent;
DROP FUNCTION IF EXISTS modelgate_audit_event_append_only();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD, params=None)  # no params: `%` is plpgsql's, not a placeholder


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_audit_every_field_hashed")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
