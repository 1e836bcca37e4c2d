"""The native webhooks API: who may do what (tenant admins for tenant-wide webhooks, manage for a model's), the
secret never shown, validation, the delivery log, and every endpoint refused to another tenant (404) and to a member
without manage (403)."""

from __future__ import annotations

import json

import pytest

from registry import services
from registry.models import AuditEvent, Webhook, WebhookDelivery
from tests.helpers import principal

from .conftest import SECRET

pytestmark = pytest.mark.django_db
PUBLIC_URL = "https://93.184.215.14/hooks/abc"  # an IP literal: no DNS needed, and public


@pytest.fixture
def model(owner, tenant):
    return services.registered_model_create(principal=principal(owner, tenant), name="churn")


@pytest.fixture
def tenant_hook(tenant_admin, tenant, api):
    res = api(tenant_admin, tenant).post(
        "/t/acme/api/v1/webhooks", {"url": PUBLIC_URL, "events": ["*"], "secret": SECRET}, format="json"
    )
    assert res.status_code == 201, res.content
    return Webhook.objects.get(pk=res.json()["id"])


@pytest.fixture
def model_hook(owner, tenant, model, api):
    res = api(owner, tenant).post(
        "/t/acme/api/v1/webhooks",
        {
            "url": PUBLIC_URL,
            "events": ["registered_model.created", "model_version_alias.set"],
            "secret": SECRET,
            "model": "churn",
            "description": "CI",
        },
        format="json",
    )
    assert res.status_code == 201, res.content
    return Webhook.objects.get(pk=res.json()["id"])


def a_delivery(webhook: Webhook) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        tenant_id=webhook.tenant_id,
        webhook=webhook,
        event_id="e",
        event="registered_model.created",
        payload=json.dumps({"event": "registered_model.created"}),
        status="succeeded",
        next_attempt_at="2026-01-01T00:00:00Z",
    )


def endpoints(webhook: Webhook) -> list[tuple[str, str, dict | None]]:
    delivery = a_delivery(webhook)
    base = f"/t/acme/api/v1/webhooks/{webhook.pk}"
    return [
        ("get", base, None),
        ("patch", base, {"active": False}),
        ("delete", base, None),
        ("get", f"{base}/deliveries", None),
        ("post", f"{base}/deliveries/{delivery.pk}/replay", None),
    ]


def test_a_tenant_admin_creates_a_tenant_wide_webhook_and_never_sees_the_secret_again(
    tenant_admin, tenant, tenant_hook, api
):
    client = api(tenant_admin, tenant)
    listed = client.get("/t/acme/api/v1/webhooks")
    detail = client.get(f"/t/acme/api/v1/webhooks/{tenant_hook.pk}")
    assert listed.status_code == detail.status_code == 200
    body = detail.json()
    assert body["url"] == PUBLIC_URL and body["events"] == ["*"] and body["model"] is None
    assert body["secret_hint"] == "…" + SECRET[-4:] and body["active"] is True
    assert body["created_by"] == "ada"
    assert listed.json()["count"] == 1
    for res in (listed, detail):
        assert SECRET not in res.content.decode()
    event = AuditEvent.objects.get(tenant=tenant, action="webhook.created")
    assert SECRET not in json.dumps(event.after) and "/hooks/abc" not in json.dumps(event.after)


def test_a_model_manager_creates_lists_updates_and_deletes_a_models_webhook(owner, tenant, model_hook, api):
    client = api(owner, tenant)
    assert model_hook.model.name == "churn"
    assert client.get("/t/acme/api/v1/webhooks?model=churn").json()["count"] == 1
    res = client.patch(
        f"/t/acme/api/v1/webhooks/{model_hook.pk}",
        {"events": ["model_version.ready"], "active": False, "secret": "another-secret-1234"},
        format="json",
    )
    assert res.status_code == 200, res.content
    assert res.json()["events"] == ["model_version.ready"] and res.json()["active"] is False
    assert res.json()["secret_hint"] == "…1234" and "another-secret-1234" not in res.content.decode()
    assert client.delete(f"/t/acme/api/v1/webhooks/{model_hook.pk}").status_code == 204
    assert not Webhook.objects.exists()
    actions = list(AuditEvent.objects.filter(action__startswith="webhook.").values_list("action", flat=True))
    assert actions == ["webhook.created", "webhook.updated", "webhook.deleted"]


def test_the_delivery_log_shows_each_delivery_with_its_payload_and_attempts(owner, tenant, model_hook, api):
    services.registered_model_set_tag(
        principal=principal(owner, tenant), model=model_hook.model, key="k", value="v"
    )
    assert not WebhookDelivery.objects.exists()  # a tag change is not a webhook event
    a_delivery(model_hook)
    res = api(owner, tenant).get(f"/t/acme/api/v1/webhooks/{model_hook.pk}/deliveries")
    assert res.status_code == 200, res.content
    [row] = res.json()["results"]
    assert row["event"] == "registered_model.created" and row["status"] == "succeeded"
    assert row["payload"] == {"event": "registered_model.created"} and row["attempt_log"] == []


def test_events_and_secrets_are_validated(tenant_admin, tenant, api):
    client = api(tenant_admin, tenant)
    for body, fragment in [
        ({"url": PUBLIC_URL, "events": ["model.exploded"], "secret": SECRET}, "events"),
        ({"url": PUBLIC_URL, "events": [], "secret": SECRET}, "events"),
        ({"url": PUBLIC_URL, "events": ["*"], "secret": "short"}, "secret"),
        ({"url": PUBLIC_URL, "events": ["*"]}, "secret"),
        ({"url": PUBLIC_URL, "events": ["*"], "secret": SECRET, "model": "nope"}, "not found"),
    ]:
        res = client.post("/t/acme/api/v1/webhooks", body, format="json")
        assert res.status_code in (400, 404), (body, res.content)
        assert fragment in res.json()["message"], (body, res.json())
    assert not Webhook.objects.exists()


def test_another_tenant_gets_404_on_every_endpoint(tenant_hook, model_hook, outsider, other_tenant, api):
    for webhook in (tenant_hook, model_hook):
        for method, url, body in endpoints(webhook):
            # Their own tenant's URL space: the webhook does not exist there.
            own = api(outsider, other_tenant)
            res = getattr(own, method)(url.replace("/t/acme/", "/t/globex/"), body, format="json")
            assert res.status_code == 404, (method, url, res.content)
            assert res.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
            # Ours, with their token: not their tenant.
            res = getattr(own, method)(url, body, format="json")
            assert res.status_code == 404, (method, url, res.content)
    own = api(outsider, other_tenant)
    assert own.get("/t/acme/api/v1/webhooks").status_code == 404
    assert own.get("/t/globex/api/v1/webhooks").json()["count"] == 0
    assert Webhook.objects.count() == 2


@pytest.mark.parametrize("who", ["teammate", "viewer"])
def test_a_member_without_manage_gets_403_on_every_endpoint(
    who, tenant_hook, model_hook, tenant, api, request
):
    client = api(request.getfixturevalue(who), tenant)
    for webhook in (tenant_hook, model_hook):
        for method, url, body in endpoints(webhook):
            res = getattr(client, method)(url, body, format="json")
            assert res.status_code == 403, (who, method, url, res.content)
            assert res.json()["error_code"] == "PERMISSION_DENIED"
    assert client.get("/t/acme/api/v1/webhooks").status_code == 403
    assert client.get("/t/acme/api/v1/webhooks?model=churn").status_code == 403
    for body in (
        {"url": PUBLIC_URL, "events": ["*"], "secret": SECRET},
        {"url": PUBLIC_URL, "events": ["*"], "secret": SECRET, "model": "churn"},
    ):
        assert client.post("/t/acme/api/v1/webhooks", body, format="json").status_code == 403
    assert Webhook.objects.count() == 2 and Webhook.objects.filter(active=True).count() == 2


def test_a_model_manager_cannot_touch_tenant_wide_webhooks(owner, tenant, tenant_hook, api):
    client = api(owner, tenant)
    assert client.get(f"/t/acme/api/v1/webhooks/{tenant_hook.pk}").status_code == 403
    assert client.get("/t/acme/api/v1/webhooks").status_code == 403


def test_a_token_without_the_admin_scope_cannot_change_webhooks(owner, tenant, model_hook, api):
    client = api(owner, tenant, scopes=["read", "write"])
    assert client.get(f"/t/acme/api/v1/webhooks/{model_hook.pk}").status_code == 200
    res = client.patch(f"/t/acme/api/v1/webhooks/{model_hook.pk}", {"active": False}, format="json")
    assert res.status_code == 403 and "admin" in res.json()["message"]


def test_a_models_webhooks_go_when_the_model_is_deleted(owner, tenant, model, model_hook):
    services.registered_model_delete(principal=principal(owner, tenant), model=model)
    assert not Webhook.objects.exists()


def test_the_webhook_endpoints_are_in_the_openapi_schema(client):
    paths = client.get("/api/schema/?format=json").json()["paths"]
    expected = {
        "/t/{tenant}/api/v1/webhooks": {"get", "post"},
        "/t/{tenant}/api/v1/webhooks/{webhook_id}": {"get", "patch", "delete"},
        "/t/{tenant}/api/v1/webhooks/{webhook_id}/deliveries": {"get"},
        "/t/{tenant}/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/replay": {"post"},
    }
    for url, methods in expected.items():
        assert url in paths, sorted(paths)
        assert methods <= set(paths[url]), url
