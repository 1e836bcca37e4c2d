"""The token admin's revoke actions need Django's `change` permission on tokens (revoking changes a token), and
only superusers act across tenants; the audit log is read-only in the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from accounts import services as account_services
from accounts.models import ApiToken
from tenants import services as tenant_services

pytestmark = pytest.mark.django_db


def staff_with(username: str, *codenames: str):
    user = get_user_model().objects.create_user(username, f"{username}@example.com", "staff-pw-123")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames)
    )
    return user


def token_of(user, tenant) -> ApiToken:
    token, _secret = account_services.token_issue(user=user, tenant=tenant, name="ci")
    return token


def revoke(client, token: ApiToken):
    return client.post(
        "/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True
    )


def test_a_staff_user_who_may_only_view_tokens_cannot_revoke_one(client, outsider, tenant):
    # A tenant admin of acme, so the only thing between them and the revocation is the missing permission.
    sam = staff_with("sam", "view_apitoken", "view_serviceaccount")
    tenant_services.membership_set(tenant=tenant, user=sam, role="admin")
    token = token_of(sam, tenant)
    client.force_login(sam)
    assert client.get("/admin/accounts/apitoken/").status_code == 200
    revoke(client, token)
    token.refresh_from_db()
    assert token.revoked_at is None
    sa, _secret = account_services.service_account_create(tenant=tenant, name="deployer", role="member")
    client.post(
        "/admin/accounts/serviceaccount/",
        {"action": "revoke_tokens", "_selected_action": [sa.pk]},
        follow=True,
    )
    assert not ApiToken.objects.filter(user=sa.user, revoked_at__isnull=False).exists()


def test_staff_with_change_permission_revoke_only_in_tenants_they_administer(
    client, outsider, other_tenant, tenant
):
    foreign = token_of(outsider, other_tenant)
    sam = staff_with("sam", "view_apitoken", "change_apitoken")
    tenant_services.membership_set(tenant=tenant, user=sam, role="admin")
    own = token_of(sam, tenant)
    client.force_login(sam)
    res = revoke(client, foreign)  # a forged id: not in the (scoped) list, so nothing is selected
    assert "Revoked 0 token(s)" in res.content.decode()
    foreign.refresh_from_db()
    assert foreign.revoked_at is None
    revoke(client, own)
    own.refresh_from_db()
    assert own.revoked_at is not None


def test_a_superuser_revokes_a_token_of_any_tenant(client, outsider, other_tenant):
    token = token_of(outsider, other_tenant)
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "root-pw-123"))
    revoke(client, token)
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_audit_log_is_read_only_in_the_admin(client, tenant):
    from registry.models import AuditEvent

    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "root-pw-123"))
    event = AuditEvent.objects.filter(tenant=tenant).first()
    assert event is not None
    assert client.get("/admin/registry/auditevent/?action=tenant.created").status_code == 200
    assert client.get(f"/admin/registry/auditevent/{event.pk}/change/").status_code == 200
    assert client.get("/admin/registry/auditevent/add/").status_code == 403
    assert client.post(f"/admin/registry/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    index = client.get("/admin/").content.decode()
    assert "Model aliases" in index and "aliass" not in index
