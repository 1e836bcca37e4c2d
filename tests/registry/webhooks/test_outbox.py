"""The outbox: deliveries are written in the transaction of the change, one per matching active subscription, with
the documented payload; a rolled-back change leaves none; events nobody subscribed to write nothing."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from config.errors import InvalidParameter
from registry import events, services
from registry.models import AuditEvent, Webhook, WebhookDelivery
from registry.webhooks import outbox
from tests.helpers import principal

pytestmark = pytest.mark.django_db
URL = "https://93.184.215.14/hook"


def hook(tenant, events, model=None, active=True) -> Webhook:
    return Webhook.objects.create(
        tenant=tenant, model=model, url=URL, events=events, secret="x" * 16, active=active
    )


def test_each_matching_active_subscription_gets_one_delivery_with_the_documented_payload(
    owner, tenant, other_tenant
):
    everything = hook(tenant, ["*"])
    created_only = hook(tenant, ["registered_model.created"])
    hook(tenant, ["model_version.ready"])  # another event
    hook(tenant, ["*"], active=False)
    hook(other_tenant, ["*"])
    model = services.registered_model_create(principal=principal(owner, tenant), name="churn")
    deliveries = list(WebhookDelivery.objects.order_by("webhook_id"))
    assert [d.webhook_id for d in deliveries] == [everything.pk, created_only.pk]
    event = AuditEvent.objects.get(tenant=tenant, action="registered_model.created")
    payload = json.loads(deliveries[0].payload)
    assert payload == {
        "id": outbox.event_id(tenant.pk, event.seq),
        "event": "registered_model.created",
        "tenant": "acme",
        "created_at": event.created_at.isoformat(),
        "actor": "olivia",
        "model": "churn",
        "audit_seq": event.seq,
        "data": {
            "before": None,
            "after": event.after,
            "object_type": "registeredmodel",
            "object_id": str(model.pk),
        },
    }
    assert deliveries[0].payload == deliveries[1].payload  # one event, one body, whoever receives it
    assert {d.status for d in deliveries} == {"pending"} and {d.tenant_id for d in deliveries} == {tenant.pk}


def test_a_rolled_back_change_leaves_no_delivery(owner, tenant):
    model = services.registered_model_create(principal=principal(owner, tenant), name="churn")
    hook(tenant, ["*"])
    with pytest.raises(InvalidParameter), transaction.atomic():
        events.emit(
            tenant=tenant, actor=owner, action="model_version_alias.set", obj=model, model_id=model.pk
        )
        assert WebhookDelivery.objects.count() == 1  # written in the change's transaction…
        raise InvalidParameter("the change fails after its event")
    assert not WebhookDelivery.objects.exists()  # …and rolled back with it


def test_an_event_no_one_subscribes_to_costs_no_query(owner, tenant):
    p = principal(owner, tenant)
    model = services.registered_model_create(principal=p, name="churn")
    event = AuditEvent.objects.get(tenant=tenant, action="registered_model.created")
    event.action = "registered_model.tag_set"
    with CaptureQueriesContext(connection) as queries:
        assert outbox.record_deliveries(event) == []
    assert len(queries) == 0
    event.action = "registered_model.created"
    with CaptureQueriesContext(connection) as queries:
        assert outbox.record_deliveries(event) == []  # a tenant without webhooks: one indexed query
    assert len(queries) == 1
    assert model.pk
