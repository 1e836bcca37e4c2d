"""Failed authentication is throttled: API tokens per client address and per account (accounts/throttling.py, Redis),
the sign-in form and the admin login by django-axes. Successful traffic is not slowed, another address is not
affected, and Redis being down does not break authentication."""

from __future__ import annotations

import logging
import secrets

import pytest
from rest_framework.test import APIClient

import accounts.throttling as throttling
from accounts import services as account_services
from accounts.models import ApiToken
from registry.models import AuditEvent
from tests.helpers import issue

ME = "/t/acme/api/v1/me"
LIMITS = {
    "ENABLED": True,
    "WINDOW_SECONDS": 300,
    "ADDRESS_LIMIT": 5,
    "ACCOUNT_LIMIT": 3,
    "TRUSTED_PROXIES": 1,
}


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.MODELGATE_AUTH_THROTTLE = dict(LIMITS)
    settings.AXES_FAILURE_LIMIT = 3


def bad_token(prefix: str = "mgt_") -> str:
    return prefix + secrets.token_urlsafe(30)[: 44 - len(prefix)]


def call(secret: str, address: str = "10.0.0.1", path: str = ME, **extra):
    client = APIClient(REMOTE_ADDR=address)
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}", **extra)


def test_it_answers_429_with_retry_after_once_an_address_has_failed_too_often(owner, tenant):
    for _ in range(LIMITS["ADDRESS_LIMIT"]):
        assert call(bad_token()).status_code == 401
    res = call(bad_token())
    assert res.status_code == 429, res.content
    assert res.json()["error_code"] == "RESOURCE_EXHAUSTED"
    assert "Too many failed authentication attempts" in res.json()["message"]
    assert 0 < int(res["Retry-After"]) <= LIMITS["WINDOW_SECONDS"]
    # A blocked address is refused before its credentials are looked at, even a good token.
    assert call(issue(owner, tenant)).status_code == 429


def test_malformed_and_foreign_credentials_count_as_failures_too(owner, tenant):
    for header in ["Basic !!!", "Token abc", "Bearer not-a-token", "Bearer mgt_short"]:
        client = APIClient(REMOTE_ADDR="10.0.0.1")
        assert client.get(ME, HTTP_AUTHORIZATION=header).status_code == 401
    call(bad_token())
    assert call(bad_token()).status_code == 429


def test_a_good_token_from_another_address_is_unaffected(owner, tenant):
    for _ in range(LIMITS["ADDRESS_LIMIT"] + 2):
        call(bad_token(), address="10.0.0.1")
    assert call(bad_token(), address="10.0.0.1").status_code == 429
    res = call(issue(owner, tenant), address="10.0.0.2")
    assert res.status_code == 200, res.content
    # ...and a wrong one from there is an ordinary 401.
    assert call(bad_token(), address="10.0.0.2").status_code == 401


def test_failures_for_one_account_answer_429_from_any_address_but_its_good_token_still_works(owner, tenant):
    secret = issue(owner, tenant)
    prefix = secret[:12]  # the visible prefix names the account
    for n in range(LIMITS["ACCOUNT_LIMIT"]):
        assert call(bad_token(prefix), address=f"10.0.1.{n}").status_code == 401
    res = call(bad_token(prefix), address="10.0.2.1")
    assert res.status_code == 429
    assert res.json()["error_code"] == "RESOURCE_EXHAUSTED"
    assert int(res["Retry-After"]) > 0
    # The prefix is visible: blocking the account outright would let anyone lock its owner out.
    assert call(secret, address="10.0.2.1").status_code == 200
    assert call(bad_token(), address="10.0.2.2").status_code == 401  # another account is not affected


def test_a_lockout_is_one_audit_event_in_the_tenant_of_the_tried_token(owner, tenant):
    secret = issue(owner, tenant)
    token = ApiToken.objects.get(prefix=secret[:12])
    account_services.token_revoke(token=token)
    for n in range(LIMITS["ACCOUNT_LIMIT"] + 3):
        call(secret, address=f"10.0.3.{n}", path="/api/v1/me")  # no tenant in the URL: the token names it
    events = AuditEvent.objects.filter(tenant=tenant, action="auth.locked_out")
    assert events.count() == 1
    event = events.get()
    assert event.after["kind"] == "account"
    assert event.after["account"] == secret[:12]
    assert event.after["failures"] == LIMITS["ACCOUNT_LIMIT"]


def test_an_address_lockout_is_audited_in_the_tenant_named_by_the_url(tenant):
    for _ in range(LIMITS["ADDRESS_LIMIT"] + 3):
        call(bad_token(), address="10.0.4.1")
    event = AuditEvent.objects.get(tenant=tenant, action="auth.locked_out")
    assert event.after["kind"] == "address"
    assert event.after["address"] == "10.0.4.1"


def test_a_lockout_with_no_known_tenant_is_logged(db, caplog):
    with caplog.at_level(logging.WARNING, logger="accounts.throttling"):
        for _ in range(LIMITS["ADDRESS_LIMIT"]):
            call(bad_token(), address="10.0.5.1", path="/api/v1/me")
    assert not AuditEvent.objects.filter(action="auth.locked_out").exists()
    assert "Authentication locked out" in caplog.text and "10.0.5.1" in caplog.text


def test_x_forwarded_for_is_ignored_unless_behind_a_tls_proxy(owner, tenant, settings):
    for n in range(LIMITS["ADDRESS_LIMIT"]):
        call(bad_token(), address="10.0.6.1", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    # Without a proxy the header is the client's own: changing it does not escape the block.
    assert (
        call(issue(owner, tenant), address="10.0.6.1", HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 429
    )

    settings.BEHIND_TLS_PROXY = True
    # Behind the proxy (REMOTE_ADDR is the proxy) the right-most entry is the client; a spoofed left part is not.
    for n in range(LIMITS["ADDRESS_LIMIT"]):
        call(bad_token(), address="10.9.9.9", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 198.51.100.7")
    res = call(issue(owner, tenant), address="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.7")
    assert res.status_code == 429
    res = call(issue(owner, tenant), address="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert res.status_code == 200, res.content


class CountingCache:
    def __init__(self, cache):
        self.cache = cache
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self.cache, name)
        if callable(attr):

            def counted(*args, **kwargs):
                self.calls.append(name)
                return attr(*args, **kwargs)

            return counted
        return attr


def test_a_successful_token_request_costs_one_cache_get_and_no_extra_query(owner, tenant, monkeypatch):
    from django.core.cache import caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    secret = issue(owner, tenant)
    call(secret)  # warm up (last_used_at is written at most once a minute)
    counting = CountingCache(caches["throttle"])
    monkeypatch.setattr(throttling, "_cache", lambda: counting)
    with CaptureQueriesContext(connection) as on:
        assert call(secret).status_code == 200
    assert counting.calls == ["get"]
    monkeypatch.setitem(throttling.settings.MODELGATE_AUTH_THROTTLE, "ENABLED", False)
    with CaptureQueriesContext(connection) as off:
        assert call(secret).status_code == 200
    assert len(on.captured_queries) == len(off.captured_queries)


def test_session_requests_do_not_touch_the_throttle(owner, tenant, monkeypatch):
    counting = CountingCache(throttling._cache())
    monkeypatch.setattr(throttling, "_cache", lambda: counting)
    client = APIClient()
    client.force_login(owner)
    assert client.get(ME).status_code == 200
    assert counting.calls == []


def test_redis_down_does_not_break_authentication(owner, tenant, settings, caplog):
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_timeout": 0.2, "socket_connect_timeout": 0.2},
        },
    }
    secret = issue(owner, tenant)
    with caplog.at_level(logging.WARNING, logger="accounts.throttling"):
        assert call(secret).status_code == 200
        for _ in range(LIMITS["ADDRESS_LIMIT"] + 2):
            assert call(bad_token()).status_code == 401
        assert call(secret).status_code == 200
    assert "Authentication throttling is off" in caplog.text


# --- the sign-in form and the admin login (django-axes) ----------------------------------------------------------


@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/"])
def test_the_sign_in_forms_lock_out_after_repeated_failures_with_a_clear_page(client, owner, url, caplog):
    for _ in range(2):
        res = client.post(url, {"username": "olivia", "password": "wrong"}, REMOTE_ADDR="10.0.7.1")
        assert res.status_code == 200  # the form again, with its error
    with caplog.at_level(logging.WARNING, logger="accounts.throttling"):
        res = client.post(url, {"username": "olivia", "password": "wrong"}, REMOTE_ADDR="10.0.7.1")
    assert res.status_code == 429  # the third failure locks out
    assert "Sign-in locked out" in caplog.text
    # Now even the right password is refused, with the page.
    res = client.post(url, {"username": "olivia", "password": "olivia-pw-123"}, REMOTE_ADDR="10.0.7.1")
    assert res.status_code == 429
    assert "Too many sign-in attempts" in res.content.decode()
    assert int(res["Retry-After"]) == LIMITS["WINDOW_SECONDS"]
    assert "_auth_user_id" not in client.session


def test_a_good_password_from_another_address_and_user_still_signs_in(client, owner, teammate):
    teammate.set_password("tom-pw-12345")
    teammate.save(update_fields=["password"])
    for _ in range(4):
        client.post("/accounts/login/", {"username": "olivia", "password": "wrong"}, REMOTE_ADDR="10.0.8.1")
    res = client.post(
        "/accounts/login/", {"username": "tom", "password": "tom-pw-12345"}, REMOTE_ADDR="10.0.8.2"
    )
    assert res.status_code == 302, res.content
