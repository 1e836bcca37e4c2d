"""SSRF protection for webhook URLs: http(s) only, with a host whose every address is public.

Checked when a webhook is created or its URL changed (a clear 400), and again right before each delivery (DNS
can change between the two); the delivery then connects to the address that was checked, never re-resolving, so
a rebinding DNS server cannot swap a private address in between. `MODELGATE_WEBHOOK_ALLOW_PRIVATE` lifts the
address check (development, tests, and installations whose receivers live on the private network)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from config.errors import InvalidParameter

from . import conf

MAX_URL_LENGTH = 2000

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written in the URL (no brackets)
    port: int
    address: str  # the checked IP address to connect to


def _refusal(ip: IPAddress) -> str | None:
    """Why this address may not be a webhook target, or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return _refusal(ip.ipv4_mapped)  # ::ffff:127.0.0.1 is 127.0.0.1
    for flag, reason in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, flag):
            return reason
    if not ip.is_global:  # shared address space (100.64/10), documentation ranges, …
        return "non-public"
    return None


def parse_url(url: object) -> tuple[str, str, int]:
    """(scheme, host, port) of a syntactically acceptable webhook URL, else InvalidParameter."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidParameter("'url' is required.")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidParameter(f"'url' is longer than {MAX_URL_LENGTH} characters.")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise InvalidParameter("'url' must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidParameter(f"'url' is not a valid URL: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidParameter(f"Webhook URLs must use http or https, not '{parts.scheme or '(none)'}'.")
    host = parts.hostname
    if not host:
        raise InvalidParameter("Webhook URL has no host.")
    return scheme, host, port or (443 if scheme == "https" else 80)


def resolve(url: object) -> Target:
    """Check `url` and resolve its host; every address must be public unless private targets are allowed.
    Returns the address to connect to. Raises InvalidParameter with the reason."""
    scheme, host, port = parse_url(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidParameter(f"Webhook URL host '{host}' does not resolve: {exc}.") from exc
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    if not addresses:
        raise InvalidParameter(f"Webhook URL host '{host}' does not resolve.")
    if not conf.allow_private():
        for address in addresses:
            reason = _refusal(ipaddress.ip_address(address))
            if reason:
                shown = host if host == address else f"{host} ({address})"
                raise InvalidParameter(
                    f"Webhook URL refused: {shown} is a {reason} address; webhooks may only target public "
                    f"addresses (MODELGATE_WEBHOOK_ALLOW_PRIVATE allows others)."
                )
    return Target(scheme=scheme, host=host, port=port, address=addresses[0])
