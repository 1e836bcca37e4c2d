"""API tokens: issued once, stored hashed behind a visible prefix, used, expired, revoked, and scoped."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import ApiToken
from config.errors import InvalidParameter
from tests.helpers import client_for, issue

ME = "/t/acme/api/v1/me"


def assert_unauthenticated(res, *words: str) -> str:
    assert res.status_code == 401, res.content
    body = res.json()
    assert body["error_code"] == "UNAUTHENTICATED"
    assert res["WWW-Authenticate"].startswith("Bearer")
    for word in words:
        assert word in body["message"].lower(), body["message"]
    return body["message"]


def test_it_stores_only_the_hash_and_a_visible_prefix(owner, tenant):
    token, secret = account_services.token_issue(user=owner, tenant=tenant, name="laptop")
    assert secret.startswith("mgt_") and len(secret) > 40
    token.refresh_from_db()
    assert token.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert token.prefix == secret[:12] and secret.startswith(token.prefix)
    stored = [str(v) for v in ApiToken.objects.filter(pk=token.pk).values().get().values()]
    assert secret not in stored


def test_each_token_is_different(owner, tenant):
    assert issue(owner, tenant) != issue(owner, tenant)


def test_a_fresh_token_authenticates_and_records_its_last_use(owner, tenant):
    token, secret = account_services.token_issue(user=owner, tenant=tenant)
    assert token.last_used_at is None
    res = client_for(secret).get(ME)
    assert res.status_code == 200, res.content
    assert res.json()["username"] == "olivia"
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert timezone.now() - token.last_used_at < timedelta(minutes=1)


def test_tokens_expire_after_the_default_lifetime(owner, tenant, settings):
    token, _secret = account_services.token_issue(user=owner, tenant=tenant)
    days = settings.MODELGATE["TOKEN_DEFAULT_DAYS"]
    assert abs(token.expires_at - (timezone.now() + timedelta(days=days))) < timedelta(minutes=1)


def test_it_rejects_expired_tokens(owner, tenant):
    token, secret = account_services.token_issue(user=owner, tenant=tenant)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    message = assert_unauthenticated(client_for(secret).get(ME), "expired")
    assert token.prefix in message
    assert "revoked" not in message.lower()


def test_it_rejects_revoked_tokens(owner, tenant):
    token, secret = account_services.token_issue(user=owner, tenant=tenant)
    assert client_for(secret).get(ME).status_code == 200
    account_services.token_revoke(token=token, actor=owner)
    message = assert_unauthenticated(client_for(secret).get(ME), "revoked")
    assert "expired" not in message.lower()
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_revoking_twice_keeps_the_first_revocation_time(owner, tenant):
    token, _secret = account_services.token_issue(user=owner, tenant=tenant)
    first = account_services.token_revoke(token=token).revoked_at
    assert account_services.token_revoke(token=token).revoked_at == first


def test_revoking_one_token_leaves_the_others_working(owner, tenant):
    token, secret = account_services.token_issue(user=owner, tenant=tenant)
    other = issue(owner, tenant)
    account_services.token_revoke(token=token)
    assert client_for(secret).get(ME).status_code == 401
    assert client_for(other).get(ME).status_code == 200


def test_it_rejects_a_token_with_the_wrong_prefix(owner, tenant):
    secret = issue(owner, tenant)
    message = assert_unauthenticated(client_for("xyz_" + secret[4:]).get(ME), "invalid")
    assert "mgt_" in message


def test_it_rejects_a_tampered_secret(owner, tenant):
    secret = issue(owner, tenant)
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    message = assert_unauthenticated(client_for(tampered).get(ME), "invalid")
    assert "expired" not in message.lower() and "revoked" not in message.lower()


def test_it_rejects_a_made_up_token_with_the_right_prefix(owner, tenant):
    assert_unauthenticated(client_for("mgt_" + "x" * 40).get(ME), "invalid")


def test_it_rejects_tokens_of_deactivated_users(owner, tenant):
    secret = issue(owner, tenant)
    type(owner).objects.filter(pk=owner.pk).update(is_active=False)
    assert_unauthenticated(client_for(secret).get(ME), "inactive")


def test_an_expiry_in_the_past_is_refused(owner, tenant):
    with pytest.raises(InvalidParameter, match="future"):
        account_services.token_issue(user=owner, tenant=tenant, expires_at=timezone.now() - timedelta(days=1))


def test_only_members_of_the_tenant_get_tokens_for_it(outsider, tenant):
    with pytest.raises(InvalidParameter, match="not a member"):
        account_services.token_issue(user=outsider, tenant=tenant)


# --- scopes -----------------------------------------------------------------------------------------------------


def test_a_member_gets_every_scope_by_default(owner, tenant):
    # Members manage what their team owns; narrower tokens are asked for explicitly.
    token, _ = account_services.token_issue(user=owner, tenant=tenant)
    assert token.scopes == ["read", "write", "promote", "admin"]


def test_a_tenant_admin_gets_every_scope_by_default(tenant_admin, tenant):
    token, _ = account_services.token_issue(user=tenant_admin, tenant=tenant)
    assert token.scopes == ["read", "write", "promote", "admin"]


def test_a_viewer_gets_read_only_by_default(viewer, tenant):
    token, _ = account_services.token_issue(user=viewer, tenant=tenant)
    assert token.scopes == ["read"]


@pytest.mark.parametrize("scopes", ["write", "read,write", "promote", "admin"])
def test_a_viewer_cannot_be_issued_more_than_read(viewer, tenant, scopes):
    with pytest.raises(InvalidParameter, match="viewer"):
        account_services.token_issue(user=viewer, tenant=tenant, scopes=scopes)
    assert not ApiToken.objects.filter(user=viewer).exists()


def test_unknown_scopes_are_refused_by_name(owner, tenant):
    with pytest.raises(InvalidParameter, match="deploy"):
        account_services.token_issue(user=owner, tenant=tenant, scopes="read,deploy")


def test_scopes_are_normalised_and_ordered(owner, tenant):
    token, _ = account_services.token_issue(user=owner, tenant=tenant, scopes=" Write , read,write")
    assert token.scopes == ["read", "write"]


def test_a_read_scoped_token_shows_only_read_in_me(owner, tenant):
    res = client_for(issue(owner, tenant, "read")).get(ME)
    assert res.status_code == 200, res.content
    assert res.json()["scopes"] == ["read"]
    assert res.json()["role"] == "member"


def test_a_demoted_users_old_token_is_capped_to_read(owner, tenant):
    from tenants import services as tenant_services

    secret = issue(owner, tenant, "read,write,promote")
    tenant_services.membership_set(tenant=tenant, user=owner, role="viewer")
    body = client_for(secret).get(ME).json()
    assert body["role"] == "viewer"
    assert body["scopes"] == ["read"]


def test_issuing_and_revoking_tokens_is_audited(owner, tenant):
    from registry.models import AuditEvent

    token, _ = account_services.token_issue(user=owner, tenant=tenant, actor=owner)
    account_services.token_revoke(token=token, actor=owner)
    actions = list(
        AuditEvent.objects.filter(tenant=tenant, object_type="apitoken").values_list("action", flat=True)
    )
    assert actions == ["token.issued", "token.revoked"]
    assert all(token.token_hash not in str(e.after) for e in AuditEvent.objects.filter(tenant=tenant))
