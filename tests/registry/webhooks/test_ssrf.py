"""SSRF protection: webhook targets must be http(s) URLs whose host resolves only to public addresses, checked at
creation (a clear 400) and again at delivery time; `MODELGATE_WEBHOOK_ALLOW_PRIVATE` lifts the address check."""

from __future__ import annotations

import pytest

from config.errors import InvalidParameter
from registry.models import Webhook
from registry.webhooks import sender, ssrf

from .conftest import SECRET

REFUSED = [
    ("http://127.0.0.1/hook", "loopback"),
    ("http://127.1.2.3:8080/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://192.168.0.10/hook", "private"),
    ("http://172.16.5.5/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://[::1]:9000/hook", "loopback"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("http://[fe80::1]/hook", "link-local"),
    ("http://[fd00::1]/hook", "private"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://100.64.0.1/hook", "non-public"),
    ("http://localhost:8000/hook", "loopback"),  # a host name that resolves to loopback
]
BAD_URLS = [
    ("file:///etc/passwd", "http or https"),
    ("ftp://example.com/x", "http or https"),
    ("gopher://example.com/", "http or https"),
    ("http:///nohost", "no host"),
    ("http://exa mple.com/", "spaces"),
    ("", "blank"),
]


@pytest.fixture(autouse=True)
def _private_targets_refused(settings):
    settings.MODELGATE_WEBHOOK_ALLOW_PRIVATE = False


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_it_refuses_non_public_targets_at_creation(url, reason, tenant, tenant_admin, api):
    res = api(tenant_admin, tenant).post(
        "/t/acme/api/v1/webhooks", {"url": url, "events": ["*"], "secret": SECRET}, format="json"
    )
    assert res.status_code == 400, res.content
    assert res.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert f"is a {reason} address" in res.json()["message"]
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(("url", "reason"), BAD_URLS)
def test_it_refuses_urls_that_are_not_http_or_have_no_host(url, reason, tenant, tenant_admin, api):
    res = api(tenant_admin, tenant).post(
        "/t/acme/api/v1/webhooks", {"url": url, "events": ["*"], "secret": SECRET}, format="json"
    )
    assert res.status_code == 400, res.content
    assert res.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert reason in res.json()["message"]
    assert not Webhook.objects.exists()


def test_it_refuses_a_private_target_when_the_url_is_changed(tenant, tenant_admin, api):
    client = api(tenant_admin, tenant)
    res = client.post(
        "/t/acme/api/v1/webhooks",
        {"url": "https://93.184.215.14/hook", "events": ["*"], "secret": SECRET},
        format="json",
    )
    assert res.status_code == 201, res.content
    res = client.patch(
        f"/t/acme/api/v1/webhooks/{res.json()['id']}", {"url": "http://10.0.0.1/"}, format="json"
    )
    assert res.status_code == 400 and "private address" in res.json()["message"]
    assert Webhook.objects.get().url == "https://93.184.215.14/hook"


def test_a_public_address_is_accepted(settings):
    target = ssrf.resolve("https://93.184.215.14:8443/hook?x=1")
    assert (target.scheme, target.address, target.port) == ("https", "93.184.215.14", 8443)


def test_the_setting_allows_private_targets(settings):
    settings.MODELGATE_WEBHOOK_ALLOW_PRIVATE = True
    assert ssrf.resolve("http://127.0.0.1:9/hook").address == "127.0.0.1"
    with pytest.raises(InvalidParameter, match="http or https"):
        ssrf.resolve("file:///etc/passwd")  # the scheme rule stays


def test_the_target_is_checked_again_at_delivery_time(make_receiver):
    # A webhook created while its host was public, whose DNS now points at loopback: nothing is sent.
    receiver = make_receiver()
    outcome = sender.post(url=receiver.url, secret=SECRET, body="{}", event="gate.failed", delivery_id="d")
    assert not outcome.ok and outcome.status_code is None
    assert "loopback address" in outcome.error
    assert receiver.requests == []


def test_the_request_goes_to_the_checked_address_with_the_original_host_header():
    target = ssrf.Target(scheme="https", host="hooks.example.com", port=8443, address="2001:db8::7")
    url, host = sender._pinned("https://user:pw@hooks.example.com:8443/p/a?q=1#frag", target)
    assert url == "https://user:pw@[2001:db8::7]:8443/p/a?q=1"
    assert host == "hooks.example.com:8443"
    url, host = sender._pinned(
        "http://hooks.example.com/x", ssrf.Target("http", "hooks.example.com", 80, "93.184.215.14")
    )
    assert (url, host) == ("http://93.184.215.14/x", "hooks.example.com")
