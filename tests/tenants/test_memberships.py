"""Memberships through tenants.services: a tenant never loses its last admin by a demotion or a removal."""

from __future__ import annotations

import pytest

from accounts import services as account_services
from config.errors import Conflict
from registry.models import AuditEvent
from tenants import services
from tenants.models import Membership

pytestmark = pytest.mark.django_db


def test_the_last_admin_cannot_be_demoted_or_removed(tenant, tenant_admin):
    with pytest.raises(Conflict, match="last admin of tenant 'acme'"):
        services.membership_set(tenant=tenant, user=tenant_admin, role="member", actor=tenant_admin)
    with pytest.raises(Conflict, match="last admin"):
        services.membership_remove(tenant=tenant, user=tenant_admin, actor=tenant_admin)
    assert Membership.objects.get(tenant=tenant, user=tenant_admin).role == "admin"
    assert not AuditEvent.objects.filter(
        action__in=["membership.role_changed", "membership.removed"]
    ).exists()


def test_an_admin_can_step_down_once_another_admin_exists(tenant, tenant_admin, owner):
    services.membership_set(tenant=tenant, user=owner, role="admin", actor=tenant_admin)
    services.membership_set(tenant=tenant, user=tenant_admin, role="viewer", actor=tenant_admin)
    assert Membership.objects.get(tenant=tenant, user=tenant_admin).role == "viewer"
    with pytest.raises(Conflict):
        services.membership_remove(tenant=tenant, user=owner, actor=owner)


def test_a_service_account_or_an_inactive_user_does_not_count_as_the_remaining_admin(tenant, tenant_admin):
    account_services.service_account_create(tenant=tenant, name="ci-bot", role="admin", actor=tenant_admin)
    gone = account_services.user_create(username="gone", tenant=tenant, role="admin")
    gone.is_active = False
    gone.save(update_fields=["is_active"])
    with pytest.raises(Conflict):
        services.membership_set(tenant=tenant, user=tenant_admin, role="member", actor=tenant_admin)


def test_other_members_come_and_go_freely(tenant, tenant_admin, owner, viewer):
    services.membership_set(tenant=tenant, user=viewer, role="member", actor=tenant_admin)
    services.membership_remove(tenant=tenant, user=owner, actor=tenant_admin)
    assert set(Membership.objects.filter(tenant=tenant).values_list("user__username", "role")) == {
        ("ada", "admin"),
        ("vera", "member"),
    }
