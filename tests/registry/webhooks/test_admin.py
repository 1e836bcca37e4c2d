"""Webhooks in the Django admin: read-only lists for platform admins (no secret shown), a replay action that goes
through the service (audited), and nobody else gets in."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from registry.models import AuditEvent, Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db
SECRET = "admin-secret-abcd"


@pytest.fixture
def delivery(tenant) -> WebhookDelivery:
    webhook = Webhook.objects.create(
        tenant=tenant, url="https://93.184.215.14/h", events=["*"], secret=SECRET
    )
    return WebhookDelivery.objects.create(
        tenant=tenant,
        webhook=webhook,
        event_id="e",
        event="registered_model.created",
        payload="{}",
        status="failed",
        next_attempt_at="2026-01-01T00:00:00Z",
    )


def test_platform_admins_see_webhooks_and_deliveries_without_the_secret(client, root, delivery):
    client.force_login(root)
    for url in (
        "/admin/registry/webhook/",
        f"/admin/registry/webhook/{delivery.webhook_id}/change/",
        "/admin/registry/webhookdelivery/",
        f"/admin/registry/webhookdelivery/{delivery.pk}/change/",
    ):
        res = client.get(url)
        assert res.status_code == 200, url
        assert SECRET not in res.content.decode()
    assert "…abcd" in client.get(f"/admin/registry/webhook/{delivery.webhook_id}/change/").content.decode()


def test_the_replay_action_creates_a_new_delivery_through_the_service(client, root, delivery, tenant):
    client.force_login(root)
    res = client.post(
        "/admin/registry/webhookdelivery/",
        {"action": "replay", "_selected_action": [str(delivery.pk)]},
    )
    assert res.status_code == 302
    replay = WebhookDelivery.objects.exclude(pk=delivery.pk).get()
    assert (
        replay.replay_of_id == delivery.pk
        and replay.payload == delivery.payload
        and replay.status == "pending"
    )
    assert (
        AuditEvent.objects.filter(tenant=tenant, action="webhook.delivery_replayed", actor_id=root.pk).count()
        == 1
    )


def test_staff_who_are_not_platform_admins_cannot_see_or_replay(client, delivery):
    staff = get_user_model().objects.create_user("staff", password="pw-123456", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/registry/webhookdelivery/").status_code == 403
    client.post(
        "/admin/registry/webhookdelivery/", {"action": "replay", "_selected_action": [str(delivery.pk)]}
    )
    assert WebhookDelivery.objects.count() == 1


def test_changing_and_deleting_a_webhook_in_the_admin_goes_through_the_services(
    client, root, delivery, tenant
):
    client.force_login(root)
    webhook = delivery.webhook
    url = f"/admin/registry/webhook/{webhook.pk}/change/"
    form = {"url": webhook.url, "events": '["model_version.created"]', "description": "ci", "new_secret": ""}
    res = client.post(url, form)  # `active` unticked: switched off
    assert res.status_code == 302, res.content.decode()[-2000:]
    webhook.refresh_from_db()
    assert (webhook.active, webhook.events, webhook.description) == (False, ["model_version.created"], "ci")
    assert webhook.secret == SECRET  # an empty secret field keeps the secret
    event = AuditEvent.objects.get(tenant=tenant, action="webhook.updated")
    assert event.actor_name == "root" and SECRET not in str(event.before) + str(event.after)

    res = client.post(url, {**form, "url": "http://127.0.0.1:9/h"}, follow=True)
    assert "127.0.0.1" not in Webhook.objects.get(pk=webhook.pk).url  # the service's SSRF check refused it

    assert client.post(f"/admin/registry/webhook/{webhook.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Webhook.objects.filter(pk=webhook.pk).exists()
    assert AuditEvent.objects.filter(tenant=tenant, action="webhook.deleted", actor_name="root").exists()
