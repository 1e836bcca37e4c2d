from __future__ import annotations

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from axes.signals import user_locked_out

        from . import identitycache, throttling

        # django-axes locks the sign-in form and the admin login out; say so in the log (accounts/throttling.py).
        user_locked_out.connect(throttling.on_login_locked_out, dispatch_uid="modelgate.login_locked_out")
        # Remembered token identities (accounts/identitycache.py) are invalidated on every change to a caller.
        identitycache.connect_signals()
