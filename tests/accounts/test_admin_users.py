"""Users in the Django admin: platform admins change them through the audited services (`accounts.user_changes`),
a deactivation stops the user's tokens and sessions at once, only superusers grant staff or superuser, and tenant
admins only see the members of their own tenants, read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts import services as account_services
from config.errors import Conflict, PermissionDenied
from registry.models import AuditEvent
from tests.helpers import client_for, issue, staff_tenant_admin

pytestmark = pytest.mark.django_db


def user_form(user, **changes) -> dict:
    data = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        **{f: "on" for f in ("is_active", "is_staff", "is_superuser") if getattr(user, f)},
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_deactivating_a_user_in_the_admin_stops_their_tokens_and_sessions_at_once(
    admin_client, owner, tenant
):
    secret = issue(owner, tenant)
    session = Client()
    session.force_login(owner)
    assert (
        session.get("/t/acme/").status_code == 200
        and client_for(secret).get("/t/acme/api/v1/me").status_code == 200
    )

    res = admin_client.post(f"/admin/accounts/user/{owner.pk}/change/", user_form(owner, is_active=None))
    assert res.status_code == 302, res.content.decode()[-2000:]
    owner.refresh_from_db()
    assert owner.is_active is False
    res = client_for(secret).get("/t/acme/api/v1/me")
    assert res.status_code == 401 and "inactive" in res.json()["message"]
    assert session.get("/t/acme/").status_code == 302  # signed out: back to the sign-in page
    event = AuditEvent.objects.get(tenant=tenant, action="user.updated")
    assert (event.before, event.after, event.actor_name) == (
        {"is_active": True},
        {"is_active": False},
        "root",
    )


def test_granting_superuser_is_recorded_in_every_tenant(admin_client, owner, tenant, other_tenant):
    res = admin_client.post(
        f"/admin/accounts/user/{owner.pk}/change/", user_form(owner, is_staff="on", is_superuser="on")
    )
    assert res.status_code == 302, res.content.decode()[-2000:]
    owner.refresh_from_db()
    assert owner.is_staff and owner.is_superuser
    for t in (tenant, other_tenant):  # olivia is only in acme, but is now a platform admin of globex too
        event = AuditEvent.objects.get(tenant=t, action="user.updated")
        assert event.after == {"is_staff": True, "is_superuser": True}


def test_a_profile_change_is_recorded_in_the_users_tenants_only(admin_client, owner, tenant, other_tenant):
    res = admin_client.post(
        f"/admin/accounts/user/{owner.pk}/change/", user_form(owner, email="o@example.com")
    )
    assert res.status_code == 302
    assert AuditEvent.objects.get(tenant=tenant, action="user.updated").after == {"email": "o@example.com"}
    assert not AuditEvent.objects.filter(tenant=other_tenant, action="user.updated").exists()


def test_changing_a_password_in_the_admin_is_audited_without_the_secret(admin_client, client, owner, tenant):
    res = admin_client.post(
        f"/admin/accounts/user/{owner.pk}/password/",
        {"password1": "a-new-pass-987", "password2": "a-new-pass-987", "usable_password": "true"},
    )
    assert res.status_code == 302, res.content.decode()[-2000:]
    owner.refresh_from_db()
    assert owner.check_password("a-new-pass-987")
    event = AuditEvent.objects.get(tenant=tenant, action="user.password_set")
    assert event.actor_name == "root"
    assert "a-new-pass-987" not in str(event.before) + str(event.after)


def test_group_and_permission_changes_are_audited(admin_client, owner, tenant):
    from django.contrib.auth.models import Permission

    perm = Permission.objects.get(codename="view_membership")
    res = admin_client.post(
        f"/admin/accounts/user/{owner.pk}/change/", user_form(owner, user_permissions=[perm.pk])
    )
    assert res.status_code == 302, res.content.decode()[-2000:]
    assert list(owner.user_permissions.all()) == [perm]
    event = AuditEvent.objects.get(tenant=tenant, action="user.updated")
    assert event.after == {"user_permissions": ["tenants.view_membership"]}


def test_a_tenant_admin_sees_their_members_but_cannot_change_users(client, tenant, owner, outsider):
    tina = staff_tenant_admin("tina", tenant)  # with every permission on users, change included
    client.force_login(tina)
    html = client.get("/admin/accounts/user/").content.decode()
    assert "olivia" in html and "oscar" not in html
    assert client.get(f"/admin/accounts/user/{owner.pk}/change/").status_code == 200
    res = client.post(
        f"/admin/accounts/user/{owner.pk}/change/", user_form(owner, is_staff="on", is_superuser="on")
    )
    assert res.status_code == 403
    res = client.post(
        f"/admin/accounts/user/{owner.pk}/password/",
        {"password1": "x-pass-12345", "password2": "x-pass-12345"},
    )
    assert res.status_code == 403
    owner.refresh_from_db()
    assert not owner.is_staff and not owner.is_superuser and owner.check_password("olivia-pw-123")
    assert client.get(f"/admin/accounts/user/{outsider.pk}/change/").status_code == 302
    assert not AuditEvent.objects.filter(action="user.updated").exists()


def test_users_are_neither_added_nor_deleted_in_the_admin(admin_client, owner):
    assert admin_client.get("/admin/accounts/user/add/").status_code == 403
    assert admin_client.post(f"/admin/accounts/user/{owner.pk}/delete/", {"post": "yes"}).status_code == 403
    assert get_user_model().objects.filter(pk=owner.pk).exists()


def test_only_platform_admins_grant_staff_or_superuser(owner, tenant_admin):
    with pytest.raises(PermissionDenied):
        account_services.user_update(user=owner, actor=tenant_admin, is_superuser=True)
    owner.refresh_from_db()
    assert not owner.is_superuser


def test_the_last_active_superuser_cannot_be_demoted(root):
    with pytest.raises(Conflict):
        account_services.user_update(user=root, actor=root, is_superuser=False)
    other = get_user_model().objects.create_superuser("root2", "r2@example.com", "root-pw-456")
    account_services.user_update(user=root, actor=other, is_superuser=False)
    root.refresh_from_db()
    assert not root.is_superuser
