"""The Django admin for platform admins: pages load, writes go through the services (validated and audited),
tokens can be revoked but their secret is never shown."""

from __future__ import annotations

import pytest

from accounts import services as account_services
from accounts.models import ApiToken
from registry.models import AuditEvent
from tenants.models import Membership, TeamMembership, Tenant
from tests.helpers import client_for, issue


def inline_management(prefix: str, initial: int = 0, total: int | None = None) -> dict:
    total = initial if total is None else total
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


PAGES = [
    "/admin/",
    "/admin/tenants/tenant/",
    "/admin/tenants/tenant/add/",
    "/admin/tenants/tenant/{tenant}/change/",
    "/admin/tenants/team/",
    "/admin/tenants/team/add/",
    "/admin/tenants/team/{team}/change/",
    "/admin/tenants/membership/",
    "/admin/tenants/membership/add/",
    "/admin/accounts/user/",
    "/admin/accounts/serviceaccount/",
    "/admin/accounts/serviceaccount/{sa}/change/",
    "/admin/accounts/apitoken/",
    "/admin/accounts/apitoken/{token}/change/",
]


@pytest.mark.parametrize("page", PAGES)
def test_the_admin_pages_load_for_a_superuser(admin_client, owner, tenant, team, page):
    sa, _ = account_services.service_account_create(tenant=tenant, name="ci", role="member")
    token = ApiToken.objects.filter(user=sa.user).get()
    url = page.format(tenant=tenant.pk, team=team.pk, sa=sa.pk, token=token.pk)
    res = admin_client.get(url)
    assert res.status_code == 200, (url, res.status_code)


@pytest.mark.parametrize("who", ["owner", "tenant_admin"])
def test_the_admin_is_for_staff_only(client, request, who):
    client.force_login(request.getfixturevalue(who))
    res = client.get("/admin/tenants/tenant/")
    assert res.status_code == 302
    assert res["Location"].startswith("/admin/login/")


def test_adding_a_tenant_in_the_admin_goes_through_the_service(admin_client, root):
    from registry.tracking.models import Experiment

    res = admin_client.post(
        "/admin/tenants/tenant/add/",
        {
            "slug": "initech",
            "name": "Initech",
            "quota_storage_bytes": "",
            "quota_models": "5",
            "quota_versions_per_model": "3",
            "protected_aliases": '["champion"]',
            **inline_management("memberships"),
        },
    )
    assert res.status_code == 302, res.content.decode()[:3000]
    tenant = Tenant.objects.get(slug="initech")
    assert (tenant.quota_models, tenant.members_read_all, tenant.protected_aliases) == (
        5,
        False,
        ["champion"],
    )
    assert Experiment.objects.filter(tenant=tenant, name="Default").exists()
    actions = list(AuditEvent.objects.filter(tenant=tenant).values_list("action", "actor_name"))
    assert ("tenant.created", "root") in actions and ("tenant.updated", "root") in actions
    created = AuditEvent.objects.get(tenant=tenant, action="tenant.created")
    assert created.after["quota_models"] == 5 and created.after["quota_versions_per_model"] == 3
    assert tenant.quota_versions_per_model == 3


def test_the_tenant_page_shows_its_usage(admin_client, tenant, owner):
    from registry import services
    from tests.helpers import principal

    p = principal(owner, tenant, ["read", "write", "promote", "admin"])
    services.registered_model_create(principal=p, name="one")
    services.registered_model_create(principal=p, name="two")
    html = admin_client.get(f"/admin/tenants/tenant/{tenant.pk}/change/").content.decode()
    assert "Storage used (bytes)" in html and "Most versions in one model" in html
    import re

    models_row = re.search(r"<label>Models:</label>\s*<div class=\"readonly\">(\d+)</div>", html)
    assert models_row and models_row.group(1) == "2"


def test_the_admin_refuses_a_bad_tenant_slug(admin_client):
    res = admin_client.post(
        "/admin/tenants/tenant/add/",
        {
            "slug": "Not_A_Slug",
            "name": "x",
            "protected_aliases": "[]",
            **inline_management("memberships"),
        },
    )
    assert res.status_code == 200
    assert "DNS-label" in res.content.decode()
    assert not Tenant.objects.exists()


def test_changing_quotas_in_the_admin_is_audited(admin_client, tenant):
    res = admin_client.post(
        f"/admin/tenants/tenant/{tenant.pk}/change/",
        {
            "name": "Acme Corp",
            "quota_storage_bytes": "1000000",
            "quota_models": "",
            "members_read_all": "on",
            "protected_aliases": '["champion", "production"]',
            **inline_management("memberships"),
        },
    )
    assert res.status_code == 302, res.content.decode()[:3000]
    tenant.refresh_from_db()
    assert (tenant.name, tenant.quota_storage_bytes) == ("Acme Corp", 1_000_000)
    event = AuditEvent.objects.get(tenant=tenant, action="tenant.updated")
    assert event.before == {"name": "Acme", "quota_storage_bytes": None}
    assert event.after == {"name": "Acme Corp", "quota_storage_bytes": 1_000_000}
    assert event.actor_name == "root"


def test_the_suspend_action_suspends_through_the_service(admin_client, owner, tenant, other_tenant):
    secret = issue(owner, tenant)
    res = admin_client.post("/admin/tenants/tenant/", {"action": "suspend", "_selected_action": [tenant.pk]})
    assert res.status_code == 302
    tenant.refresh_from_db()
    other_tenant.refresh_from_db()
    assert (tenant.status, other_tenant.status) == ("suspended", "active")
    assert AuditEvent.objects.filter(
        tenant=tenant, action="tenant.status_changed", actor_name="root"
    ).exists()
    assert client_for(secret).get("/t/acme/api/v1/me").json()["error_code"] == "TENANT_SUSPENDED"

    admin_client.post("/admin/tenants/tenant/", {"action": "activate", "_selected_action": [tenant.pk]})
    tenant.refresh_from_db()
    assert tenant.status == "active"
    assert client_for(secret).get("/t/acme/api/v1/me").status_code == 200


def test_tenants_cannot_be_deleted_in_the_admin(admin_client, tenant):
    assert admin_client.get(f"/admin/tenants/tenant/{tenant.pk}/delete/").status_code == 403


def test_the_token_admin_never_shows_the_secret_or_its_hash(admin_client, owner, tenant):
    token, secret = account_services.token_issue(user=owner, tenant=tenant, name="laptop")
    for url in [
        "/admin/accounts/apitoken/",
        f"/admin/accounts/apitoken/{token.pk}/change/",
        "/admin/accounts/serviceaccount/",
    ]:
        html = admin_client.get(url).content.decode()
        assert secret not in html and token.token_hash not in html
    html = admin_client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()
    assert token.prefix in html
    assert 'name="token_hash"' not in html


def test_the_revoke_action_revokes_through_the_service(admin_client, owner, tenant):
    token, secret = account_services.token_issue(user=owner, tenant=tenant)
    other = issue(owner, tenant)
    res = admin_client.post("/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert res.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(tenant=tenant, action="token.revoked", actor_name="root").exists()
    assert "revoked" in client_for(secret).get("/t/acme/api/v1/me").json()["message"]
    assert client_for(other).get("/t/acme/api/v1/me").status_code == 200


def test_tokens_cannot_be_added_or_deleted_in_the_admin(admin_client, owner, tenant):
    token, _ = account_services.token_issue(user=owner, tenant=tenant)
    assert admin_client.get("/admin/accounts/apitoken/add/").status_code == 403
    assert admin_client.get(f"/admin/accounts/apitoken/{token.pk}/delete/").status_code == 403


def test_adding_a_team_member_in_the_admin_goes_through_the_service(admin_client, tenant, team, viewer):
    res = admin_client.post(
        f"/admin/tenants/team/{team.pk}/change/",
        {
            "name": "Alpha",
            **inline_management("memberships", initial=0, total=1),
            "memberships-0-user": viewer.pk,
            "memberships-0-role": "maintainer",
            "memberships-0-team": team.pk,
        },
    )
    assert res.status_code == 302, res.content.decode()[:3000]
    assert TeamMembership.objects.get(team=team, user=viewer).role == "maintainer"
    team.refresh_from_db()
    assert team.name == "Alpha"
    assert AuditEvent.objects.filter(tenant=tenant, action="team.member_added", actor_name="root").exists()


def test_the_admin_refuses_a_team_member_from_outside_the_tenant(admin_client, team, outsider):
    res = admin_client.post(
        f"/admin/tenants/team/{team.pk}/change/",
        {
            "name": "alpha",
            **inline_management("memberships", initial=0, total=1),
            "memberships-0-user": outsider.pk,
            "memberships-0-role": "member",
            "memberships-0-team": team.pk,
        },
        follow=True,
    )
    assert "is not a member of tenant" in res.content.decode()
    assert not TeamMembership.objects.filter(user=outsider).exists()


def test_removing_a_membership_in_the_admin_revokes_the_users_tokens(admin_client, owner, tenant, team):
    secret = issue(owner, tenant)
    membership = Membership.objects.get(tenant=tenant, user=owner)
    res = admin_client.post(f"/admin/tenants/membership/{membership.pk}/delete/", {"post": "yes"})
    assert res.status_code == 302, res.content.decode()[:3000]
    assert not Membership.objects.filter(tenant=tenant, user=owner).exists()
    assert not TeamMembership.objects.filter(user=owner).exists()
    assert "revoked" in client_for(secret).get("/t/acme/api/v1/me").json()["message"]
    assert AuditEvent.objects.filter(tenant=tenant, action="membership.removed", actor_name="root").exists()


def test_changing_a_role_in_the_admin_changes_what_tokens_may_do(admin_client, owner, tenant):
    secret = issue(owner, tenant)
    membership = Membership.objects.get(tenant=tenant, user=owner)
    res = admin_client.post(f"/admin/tenants/membership/{membership.pk}/change/", {"role": "viewer"})
    assert res.status_code == 302, res.content.decode()[:3000]
    body = client_for(secret).get("/t/acme/api/v1/me").json()
    assert (body["role"], body["scopes"]) == ("viewer", ["read"])


def test_changing_a_service_accounts_role_in_the_admin_keeps_its_row_in_step(admin_client, tenant):
    sa, secret = account_services.service_account_create(tenant=tenant, name="ci", role="member")
    membership = Membership.objects.get(tenant=tenant, user=sa.user)
    admin_client.post(f"/admin/tenants/membership/{membership.pk}/change/", {"role": "viewer"})
    sa.refresh_from_db()
    assert sa.role == "viewer"
    assert client_for(secret).get("/t/acme/api/v1/me").json()["role"] == "viewer"
