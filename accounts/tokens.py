"""Token secrets: generation and hashing. `mgt_` + 40 url-safe characters; the stored hash is SHA-256 of the
whole token (the secret has 240 bits of entropy, so a fast hash is enough and lookups stay an index probe)."""

from __future__ import annotations

import hashlib
import secrets

from .models import TOKEN_PREFIX

VISIBLE_CHARS = 12  # "mgt_" + 8 characters are stored in clear to tell tokens apart


def generate() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(30)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def visible_prefix(token: str) -> str:
    return token[:VISIBLE_CHARS]


def looks_like_token(value: str) -> bool:
    return value.startswith(TOKEN_PREFIX) and 20 <= len(value) <= 200
