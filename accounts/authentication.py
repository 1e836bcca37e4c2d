"""DRF authentication: `Authorization: Bearer mgt_…` (MLFLOW_TRACKING_TOKEN) and HTTP Basic with the token as the
password (MLFLOW_TRACKING_USERNAME/PASSWORD); sessions for the web."""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from . import tokens
from .models import ApiToken

# last_used_at is written at most this often per token, so a busy client does not write on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").strip()
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme == "bearer":
            secret = value
        elif scheme == "basic":
            try:
                decoded = base64.b64decode(value, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise exceptions.AuthenticationFailed("Malformed Basic credentials.") from exc
            _username, sep, secret = decoded.partition(":")
            if not sep:
                raise exceptions.AuthenticationFailed("Malformed Basic credentials.")
        else:
            raise exceptions.AuthenticationFailed(f"Unsupported authorization scheme {scheme!r}: use Bearer.")
        return self.authenticate_token(secret)

    def authenticate_token(self, secret: str):
        if not tokens.looks_like_token(secret):
            raise exceptions.AuthenticationFailed("Invalid token: Modelgate tokens start with 'mgt_'.")
        token = (
            ApiToken.objects.select_related("user", "tenant", "user__service_account")
            .filter(token_hash=tokens.digest(secret))
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.is_revoked:
            raise exceptions.AuthenticationFailed(f"Token {token.prefix}… has been revoked.")
        if token.is_expired:
            raise exceptions.AuthenticationFailed(
                f"Token {token.prefix}… expired at {token.expires_at:%Y-%m-%dT%H:%M:%SZ}."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is inactive.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            # A conditional UPDATE, not save(): concurrent requests must not overwrite each other's fields.
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="modelgate"'


class SessionAuthentication(authentication.SessionAuthentication):
    """Session auth for the web views (CSRF enforced for unsafe methods, as DRF does)."""
