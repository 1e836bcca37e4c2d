"""Tenant settings: tenant admins manage roles, memberships, team members and service accounts (a new account's
token is shown once; revoking works); everyone else gets 403 on every settings URL, another tenant 404."""

from __future__ import annotations

import pytest

from accounts import services as account_services
from accounts.models import ApiToken, ServiceAccount
from registry.models import AuditEvent
from tenants.models import Membership, TeamMembership

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployer(tenant):
    account, _secret = account_services.service_account_create(tenant=tenant, name="deployer", role="member")
    return account


def settings_posts(token_pk: int) -> list[tuple[str, dict]]:
    return [
        ("/t/acme/settings/", {"name": "sneaky", "role": "admin"}),
        ("/t/acme/settings/members/vera/role/", {"role": "admin"}),
        ("/t/acme/settings/members/vera/remove/", {}),
        ("/t/acme/settings/teams/alpha/add/", {"username": "vera"}),
        ("/t/acme/settings/teams/alpha/remove/", {"username": "olivia"}),
        (f"/t/acme/settings/tokens/{token_pk}/revoke/", {}),
    ]


def test_a_tenant_admin_sees_and_changes_the_settings(
    browser_for, tenant_admin, owner, viewer, team, deployer
):
    browser = browser_for(tenant_admin)
    html = browser.get("/t/acme/settings/").content.decode()
    assert ">Settings</a>" in html and "deployer" in html and "olivia" in html
    assert browser.post("/t/acme/settings/members/vera/role/", {"role": "member"}).status_code == 303
    assert Membership.objects.get(user=viewer).role == "member"
    assert browser.post("/t/acme/settings/teams/alpha/add/", {"username": "vera"}).status_code == 303
    assert TeamMembership.objects.filter(team=team, user=viewer).exists()
    assert browser.post("/t/acme/settings/teams/alpha/remove/", {"username": "vera"}).status_code == 303
    assert not TeamMembership.objects.filter(team=team, user=viewer).exists()
    assert browser.post("/t/acme/settings/members/vera/remove/").status_code == 303
    assert not Membership.objects.filter(user=viewer).exists()
    assert AuditEvent.objects.filter(action__startswith="membership.", actor_name="ada").count() >= 2


def test_a_new_service_accounts_token_is_shown_once_and_can_be_revoked(browser_for, tenant_admin, team):
    browser = browser_for(tenant_admin)
    res = browser.post(
        "/t/acme/settings/", {"name": "ci-bot", "role": "member", "team": "alpha", "scopes": ["read"]}
    )
    assert res.status_code == 200 and res.headers["Cache-Control"] == "no-store"
    account = ServiceAccount.objects.get(name="ci-bot")
    token = ApiToken.objects.get(user=account.user)
    html = res.content.decode()
    secret = html.split('id="service-account-token">')[1].split("<")[0]
    assert secret.startswith(token.prefix)
    assert secret not in browser.get("/t/acme/settings/").content.decode()
    assert browser.post(f"/t/acme/settings/tokens/{token.pk}/revoke/").status_code == 303
    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.parametrize("who", ["owner", "viewer"])
def test_non_admins_get_403_on_every_settings_url(
    browser_for, request, who, tenant_admin, viewer, team, deployer
):
    browser = browser_for(request.getfixturevalue(who))
    token = ApiToken.objects.get(user=deployer.user)
    assert browser.get("/t/acme/settings/").status_code == 403
    for url, data in settings_posts(token.pk):
        assert browser.post(url, data).status_code == 403, url
    assert Membership.objects.get(user=viewer).role == "viewer"
    assert not ServiceAccount.objects.filter(name="sneaky").exists()
    token.refresh_from_db()
    assert token.revoked_at is None


def test_another_tenants_admin_gets_404(browser_for, outsider, viewer, team, deployer):
    browser = browser_for(outsider)
    token = ApiToken.objects.get(user=deployer.user)
    assert browser.get("/t/acme/settings/").status_code == 404
    for url, data in settings_posts(token.pk):
        assert browser.post(url, data).status_code == 404, url
    # From their own tenant's settings, acme's users, teams and tokens do not exist either.
    for url, data in settings_posts(token.pk)[1:]:
        assert browser.post(url.replace("/t/acme/", "/t/globex/"), data).status_code == 404, url
    token.refresh_from_db()
    assert token.revoked_at is None
    assert Membership.objects.get(user=viewer).role == "viewer"


def test_a_tenant_admin_sets_a_policy_with_a_gate(browser_for, tenant_admin, owner, churn):
    from registry.models import TransitionPolicy

    browser = browser_for(tenant_admin)
    data = {
        "model": "churn",
        "stage": "Production",
        "requires_approval": "on",
        "approvals_required": "2",
        "gate": '{"metric": "auc", "op": ">=", "threshold": 0.7}',
    }
    assert browser.post("/t/acme/settings/policies/", data).status_code == 303
    policy = TransitionPolicy.objects.get(model=churn.model, stage="Production")
    assert policy.approvals_required == 2 and policy.gate["threshold"] == 0.7
    bad = browser.post("/t/acme/settings/policies/", {**data, "gate": "{nope"}, follow=True)
    assert "not valid JSON" in bad.content.decode()
    assert (
        browser_for(owner).post("/t/acme/settings/policies/", {**data, "approvals_required": "5"}).status_code
        == 403
    )
    policy.refresh_from_db()
    assert policy.approvals_required == 2


def test_webhook_deliveries_are_listed_and_replayed_by_tenant_admins_only(
    browser_for, tenant_admin, owner, tenant, settings
):
    from registry import services as registry_services
    from registry.webhooks import services as webhook_services
    from registry.webhooks.models import WebhookDelivery
    from tests.registry.web.conftest import principal_of

    settings.MODELGATE_WEBHOOK_ALLOW_PRIVATE = True  # a loopback URL; nothing is delivered without a worker
    admin = principal_of(tenant_admin, tenant)
    webhook = webhook_services.webhook_create(
        principal=admin, url="http://127.0.0.1:9/modelgate", events=["*"], secret="s" * 32
    )
    registry_services.registered_model_create(principal=admin, name="fraud")
    delivery = WebhookDelivery.objects.get(webhook=webhook, event="registered_model.created")
    browser = browser_for(tenant_admin)
    assert "registered_model.created" in browser.get("/t/acme/settings/").content.decode()
    url = f"/t/acme/settings/webhooks/{webhook.pk}/deliveries/{delivery.pk}/replay/"
    assert browser_for(owner).post(url).status_code == 403
    assert not WebhookDelivery.objects.filter(replay_of=delivery).exists()
    assert browser.post(url).status_code == 303
    assert WebhookDelivery.objects.filter(replay_of=delivery).count() == 1
