"""One HTTP attempt of a webhook delivery: sign, check the target again, POST to the checked address, report.

Hand-written on top of `requests` because no library pins the connection to an address checked beforehand (the
SSRF defence against DNS rebinding) while keeping TLS verification against the URL's host name."""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from config.errors import InvalidParameter

from . import conf, ssrf

USER_AGENT = "Modelgate-Webhooks/1"
EXCERPT_BYTES = 1024


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str
    duration_ms: int
    excerpt: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.status_code is not None and 200 <= self.status_code < 300


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body>`, the `X-Modelgate-Signature` header."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def timestamped_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`: lets receivers refuse old (replayed) requests."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def headers_for(*, secret: str, body: bytes, event: str, delivery_id: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Modelgate-Event": event,
        "X-Modelgate-Delivery": delivery_id,
        "X-Modelgate-Timestamp": timestamp,
        "X-Modelgate-Signature": signature(secret, body),
        "X-Modelgate-Signature-Timestamped": timestamped_signature(secret, timestamp, body),
    }


class _PinnedTLSAdapter(HTTPAdapter):
    """Connects to the URL's (already replaced) IP address but verifies the certificate for, and sends SNI with,
    the original host name."""

    def __init__(self, hostname: str) -> None:
        self._hostname = hostname
        super().__init__(max_retries=0)

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https":
            pool_kwargs["server_hostname"] = self._hostname
            pool_kwargs["assert_hostname"] = self._hostname
        return host_params, pool_kwargs


def _pinned(url: str, target: ssrf.Target) -> tuple[str, str]:
    """The URL with its host replaced by the checked address, and the Host header to send."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    host_in_url = f"[{target.host}]" if ":" in target.host else target.host
    host_header = host_in_url + (f":{parts.port}" if parts.port else "")
    address = f"[{target.address}]" if ":" in target.address else target.address
    netloc = (userinfo + "@" if userinfo else "") + address + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), host_header


def _excerpt(response: requests.Response) -> str:
    try:
        raw = response.raw.read(EXCERPT_BYTES, decode_content=True) or b""
    except Exception:  # the excerpt is a courtesy; a broken body must not turn a 2xx into a failure
        return ""
    return raw.decode("utf-8", "replace").replace("\x00", "")


def post(*, url: str, secret: str, body: str, event: str, delivery_id: str) -> Outcome:
    """POST `body` to `url`, signed. Never raises for network trouble: it is reported in the Outcome."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = ssrf.resolve(
            url
        )  # again at delivery time: DNS may have changed since the webhook was created
    except InvalidParameter as exc:
        return Outcome(None, exc.message, elapsed())
    data = body.encode("utf-8")
    pinned_url, host_header = _pinned(url, target)
    headers = headers_for(secret=secret, body=data, event=event, delivery_id=delivery_id)
    headers["Host"] = host_header
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment: connect to the address that was checked
    # …but the operator's CA bundle still counts (trust_env off would otherwise drop it for certifi's).
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.mount("https://", _PinnedTLSAdapter(target.host))
    try:
        with session.post(
            pinned_url,
            data=data,
            headers=headers,
            timeout=(conf.connect_timeout(), conf.read_timeout()),
            allow_redirects=False,  # a redirect could point anywhere, private addresses included: a failure
            stream=True,
        ) as response:
            code = response.status_code
            excerpt = _excerpt(response)
            location = response.headers.get("Location", "")
    except requests.RequestException as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:2000], elapsed())
    finally:
        session.close()
    if 200 <= code < 300:
        error = ""
    elif 300 <= code < 400:
        error = f"HTTP {code}: redirects are not followed (Location: {location[:500]})"
    else:
        error = f"HTTP {code}"
    return Outcome(code, error, elapsed(), excerpt)
