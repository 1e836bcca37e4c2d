"""Tenant settings, managing the tenant: tenant admins add existing users as members (by username or email), create,
rename and delete teams, and create webhooks (the signing secret shown once), enable, disable and delete them.
Everyone else gets 403 on each of these URLs, another tenant's admin 404; form errors show the service's message."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from accounts import services as account_services
from registry.models import AuditEvent
from registry.webhooks.models import Webhook
from tenants import services as tenant_services
from tenants.models import Membership, Team

pytestmark = pytest.mark.django_db

HOOK = {"url": "http://127.0.0.1:9/modelgate", "events": ["model_version.stage_changed"], "active": "on"}


@pytest.fixture
def allow_loopback_webhooks(settings):
    settings.MODELGATE_WEBHOOK_ALLOW_PRIVATE = (
        True  # a loopback receiver; nothing is delivered without a worker
    )


@pytest.fixture
def hook(tenant, tenant_admin, allow_loopback_webhooks):
    from registry.webhooks import services as webhook_services
    from tests.registry.web.conftest import principal_of

    return webhook_services.webhook_create(
        principal=principal_of(tenant_admin, tenant), url=HOOK["url"], events=HOOK["events"], secret="s" * 32
    )


def messages_of(response) -> str:
    return response.content.decode()


def test_a_tenant_admin_adds_an_existing_user_by_email(browser_for, tenant_admin, other_tenant):
    nina = account_services.user_create(
        username="nina", tenant=other_tenant, role="member", email="Nina@Example.com"
    )
    browser = browser_for(tenant_admin)
    res = browser.post("/t/acme/settings/members/", {"user": "nina@example.com", "role": "viewer"})
    assert res.status_code == 303
    assert Membership.objects.get(tenant__slug="acme", user=nina).role == "viewer"
    event = AuditEvent.objects.get(tenant__slug="acme", action="membership.created", actor_name="ada")
    assert event.after == {"user": "nina", "role": "viewer"}
    assert "nina added to the tenant as viewer" in messages_of(browser.get(res.headers["Location"]))


def test_adding_an_unknown_user_or_an_existing_member_is_explained(browser_for, tenant_admin, viewer):
    browser = browser_for(tenant_admin)
    unknown = browser.post("/t/acme/settings/members/", {"user": "nobody", "role": "member"}, follow=True)
    assert "No user has the username or email" in messages_of(unknown)
    again = browser.post("/t/acme/settings/members/", {"user": "vera", "role": "admin"}, follow=True)
    assert "already a member" in messages_of(again)
    assert Membership.objects.get(user=viewer).role == "viewer"  # adding never changes an existing role
    bad_role = browser.post("/t/acme/settings/members/", {"user": "ada", "role": "owner"}, follow=True)
    assert "Invalid role" in messages_of(bad_role)


def test_another_tenants_service_account_cannot_be_added(browser_for, tenant_admin, other_tenant):
    account, _secret = account_services.service_account_create(tenant=other_tenant, name="bot", role="member")
    res = browser_for(tenant_admin).post(
        "/t/acme/settings/members/", {"user": account.user.username, "role": "member"}, follow=True
    )
    assert "No user has the username or email" in messages_of(res)
    assert not Membership.objects.filter(tenant__slug="acme", user=account.user).exists()


def test_a_tenant_admin_creates_renames_and_deletes_a_team(browser_for, tenant_admin, viewer):
    browser = browser_for(tenant_admin)
    assert browser.post("/t/acme/settings/teams/", {"slug": "gamma", "name": "Gamma"}).status_code == 303
    team = Team.objects.get(tenant__slug="acme", slug="gamma")
    assert "Delete team gamma" in messages_of(browser.get("/t/acme/settings/"))
    duplicate = browser.post("/t/acme/settings/teams/", {"slug": "gamma"}, follow=True)
    assert "already exists" in messages_of(duplicate)
    bad = browser.post("/t/acme/settings/teams/", {"slug": "Not A Slug"}, follow=True)
    assert "Invalid team slug" in messages_of(bad)
    assert browser.post("/t/acme/settings/teams/gamma/rename/", {"name": "Gamma squad"}).status_code == 303
    team.refresh_from_db()
    assert team.name == "Gamma squad"
    empty = browser.post("/t/acme/settings/teams/gamma/rename/", {"name": " "}, follow=True)
    assert "1-200 characters" in messages_of(empty)
    assert browser.post("/t/acme/settings/teams/gamma/add/", {"username": "vera"}).status_code == 303
    group_pk = team.group_id
    assert browser.post("/t/acme/settings/teams/gamma/delete/").status_code == 303
    assert not Team.objects.filter(pk=team.pk).exists()
    assert not Group.objects.filter(pk=group_pk).exists()
    event = AuditEvent.objects.get(action="team.deleted")
    assert event.actor_name == "ada" and event.before["members"] == ["vera"]
    assert browser.post("/t/acme/settings/teams/gamma/delete/").status_code == 404


def test_a_team_that_still_owns_models_is_not_deleted(browser_for, tenant_admin, churn):
    res = browser_for(tenant_admin).post("/t/acme/settings/teams/alpha/delete/", follow=True)
    assert "still owns models and experiments" in messages_of(res)
    assert Team.objects.filter(tenant__slug="acme", slug="alpha").exists()


def test_a_duplicate_service_account_name_is_explained_above_the_form(browser_for, tenant_admin):
    browser = browser_for(tenant_admin)
    assert browser.post("/t/acme/settings/", {"name": "ci", "role": "member"}).status_code == 200
    again = browser.post("/t/acme/settings/", {"name": "ci", "role": "member"})
    assert again.status_code == 200
    assert "Service account &#x27;ci&#x27; already exists" in messages_of(again)
    assert 'id="service-account-token"' not in messages_of(again)


def test_a_new_webhooks_secret_is_shown_once(browser_for, tenant_admin, allow_loopback_webhooks):
    browser = browser_for(tenant_admin)
    res = browser.post("/t/acme/settings/webhooks/", {**HOOK, "description": "chat"})
    assert res.status_code == 200 and res.headers["Cache-Control"] == "no-store"
    webhook = Webhook.objects.get(tenant__slug="acme")
    assert webhook.url == HOOK["url"] and webhook.events == HOOK["events"] and webhook.active
    secret = messages_of(res).split('id="webhook-secret">')[1].split("<")[0]
    assert secret == webhook.secret and len(secret) >= 32
    later = messages_of(browser.get("/t/acme/settings/"))
    assert secret not in later and webhook.secret_hint in later
    assert AuditEvent.objects.filter(action="webhook.created", actor_name="ada").count() == 1


def test_a_model_webhook_is_created_for_that_model(browser_for, tenant_admin, churn, allow_loopback_webhooks):
    res = browser_for(tenant_admin).post("/t/acme/settings/webhooks/", {**HOOK, "model": "churn"})
    assert res.status_code == 200
    assert Webhook.objects.get(tenant__slug="acme").model == churn.model


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**HOOK, "events": []}, "non-empty list of event names"),
        ({**HOOK, "events": ["nope"]}, "Unknown webhook event"),
        ({**HOOK, "url": "ftp://example.com/x"}, "Webhook URL"),
        ({**HOOK, "model": "missing"}, "No model named"),
    ],
)
def test_bad_webhook_input_is_explained_and_the_form_keeps_it(
    browser_for, tenant_admin, allow_loopback_webhooks, data, message
):
    res = browser_for(tenant_admin).post("/t/acme/settings/webhooks/", data)
    html = messages_of(res)
    assert res.status_code == 200 and message in html
    assert f'value="{data["url"]}"' in html
    assert not Webhook.objects.exists()


def test_a_private_receiver_is_refused_without_the_setting(browser_for, tenant_admin, settings):
    settings.MODELGATE_WEBHOOK_ALLOW_PRIVATE = False
    res = browser_for(tenant_admin).post("/t/acme/settings/webhooks/", HOOK)
    assert "webhooks may only target public addresses" in messages_of(res)
    assert not Webhook.objects.exists()


def test_a_tenant_admin_disables_enables_and_deletes_a_webhook(browser_for, tenant_admin, hook):
    browser = browser_for(tenant_admin)
    assert browser.post(f"/t/acme/settings/webhooks/{hook.pk}/active/").status_code == 303
    hook.refresh_from_db()
    assert not hook.active
    assert f"Enable webhook {hook.pk}" in messages_of(browser.get("/t/acme/settings/"))
    assert browser.post(f"/t/acme/settings/webhooks/{hook.pk}/active/", {"active": "on"}).status_code == 303
    hook.refresh_from_db()
    assert hook.active
    assert browser.post(f"/t/acme/settings/webhooks/{hook.pk}/delete/").status_code == 303
    assert not Webhook.objects.filter(pk=hook.pk).exists()
    assert AuditEvent.objects.filter(action="webhook.deleted", actor_name="ada").count() == 1


def test_a_tenant_admin_edits_and_removes_a_policy(browser_for, tenant_admin, owner, tenant, churn):
    from registry import services as registry_services
    from registry.models import TransitionPolicy
    from tests.registry.web.conftest import principal_of

    policy = registry_services.transition_policy_set(
        principal=principal_of(tenant_admin, tenant),
        model=churn.model,
        stage="Production",
        approvals_required=2,
        gate={"metric": "auc", "op": ">=", "threshold": 0.7},
    )
    browser = browser_for(tenant_admin)
    html = messages_of(browser.get(f"/t/acme/settings/?policy={policy.pk}"))
    assert "Edit the Production policy of churn" in html
    assert 'id="pol-approvals" min="1" value="2"' in html and "&quot;threshold&quot;: 0.7" in html
    assert "Set a policy" in messages_of(browser.get("/t/acme/settings/?policy=nope"))
    removal = {"model": "churn", "stage": "Production"}
    assert browser_for(owner).post("/t/acme/settings/policies/delete/", removal).status_code == 403
    assert TransitionPolicy.objects.filter(pk=policy.pk).exists()
    assert browser.post("/t/acme/settings/policies/delete/", removal).status_code == 303
    assert not TransitionPolicy.objects.filter(pk=policy.pk).exists()
    assert AuditEvent.objects.filter(action="transition_policy.deleted", actor_name="ada").count() == 1
    again = browser.post("/t/acme/settings/policies/delete/", removal)
    assert again.status_code == 404  # nothing left to remove


def manage_posts(webhook_pk: int) -> list[tuple[str, dict]]:
    return [
        ("/t/acme/settings/policies/delete/", {"model": "churn", "stage": "Production"}),
        ("/t/acme/settings/members/", {"user": "oscar", "role": "admin"}),
        ("/t/acme/settings/teams/", {"slug": "sneaky"}),
        ("/t/acme/settings/teams/alpha/rename/", {"name": "Renamed"}),
        ("/t/acme/settings/teams/beta/delete/", {}),
        ("/t/acme/settings/webhooks/", {**HOOK, "url": "http://127.0.0.1:9/sneaky"}),
        (f"/t/acme/settings/webhooks/{webhook_pk}/active/", {}),
        (f"/t/acme/settings/webhooks/{webhook_pk}/delete/", {}),
    ]


def assert_nothing_changed(hook: Webhook) -> None:
    assert not Membership.objects.filter(tenant__slug="acme", user__username="oscar").exists()
    assert sorted(Team.objects.filter(tenant__slug="acme").values_list("slug", flat=True)) == [
        "alpha",
        "beta",
    ]
    assert Team.objects.get(tenant__slug="acme", slug="alpha").name == "alpha"
    assert list(Webhook.objects.values_list("pk", "active")) == [(hook.pk, True)]


@pytest.mark.parametrize("who", ["owner", "viewer", "teammate"])
def test_non_admins_get_403_on_every_manage_url(browser_for, request, who, outsider, team, other_team, hook):
    browser = browser_for(request.getfixturevalue(who))
    assert "/settings/" not in messages_of(browser.get("/t/acme/"))  # no Settings link either
    for url, data in manage_posts(hook.pk):
        assert browser.post(url, data).status_code == 403, url
    assert_nothing_changed(hook)


def test_another_tenants_admin_gets_404_on_every_manage_url(browser_for, outsider, other_team, team, hook):
    browser = browser_for(outsider)
    for url, data in manage_posts(hook.pk):
        assert browser.post(url, data).status_code == 404, url
    # From their own tenant's settings, acme's teams and webhooks do not exist either.
    for url, data in manage_posts(hook.pk)[3:]:
        if url.endswith("/webhooks/"):
            continue
        assert browser.post(url.replace("/t/acme/", "/t/globex/"), data).status_code == 404, url
    assert_nothing_changed(hook)


def test_a_suspended_tenants_settings_are_read_only(browser_for, tenant_admin, team):
    tenant_services.tenant_set_status(tenant=team.tenant, status="suspended")
    res = browser_for(tenant_admin).post("/t/acme/settings/teams/", {"slug": "gamma"})
    assert res.status_code == 403
    assert not Team.objects.filter(slug="gamma").exists()
