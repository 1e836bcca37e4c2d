"""Transport security: behind a TLS proxy the session and CSRF cookies are `Secure`, HSTS is opt-in from the
environment, and every answer says `nosniff`. Settings are read once at import, so they are checked in a fresh
interpreter with a crafted environment (as in test_settings.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.test import override_settings

from tests.helpers import ROOT

SHOW = (
    "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({k: getattr(s, k) "
    "for k in ['SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_CONTENT_TYPE_NOSNIFF', 'SECURE_HSTS_SECONDS', "
    "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', 'BEHIND_TLS_PROXY']}))"
)
VARIABLES = {
    "BEHIND_TLS_PROXY",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
}


def settings_with(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    clean.update(DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY="k")
    proc = subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cookies_are_secure_behind_a_tls_proxy():
    values = settings_with(BEHIND_TLS_PROXY="true")
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["SECURE_HSTS_SECONDS"] == 0  # opt-in


def test_cookies_stay_usable_over_plain_http_without_a_proxy():
    # make run serves plain HTTP on 127.0.0.1: Secure cookies would make signing in impossible there.
    values = settings_with()
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True


def test_hsts_is_opt_in_from_the_environment():
    values = settings_with(
        BEHIND_TLS_PROXY="1", SECURE_HSTS_SECONDS="31536000", SECURE_HSTS_INCLUDE_SUBDOMAINS="yes"
    )
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is False


@pytest.mark.django_db
def test_the_sign_in_page_sets_secure_cookies_and_security_headers_over_tls(client):
    with override_settings(
        SESSION_COOKIE_SECURE=True,
        CSRF_COOKIE_SECURE=True,
        SECURE_HSTS_SECONDS=3600,
        SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
    ):
        res = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert res.status_code == 200
    assert res.cookies["csrftoken"]["secure"] is True
    assert res["X-Content-Type-Options"] == "nosniff"
    assert res["Strict-Transport-Security"] == "max-age=3600"


@pytest.mark.django_db
def test_every_answer_says_nosniff(client):
    assert client.get("/healthz")["X-Content-Type-Options"] == "nosniff"


# --- names and paths cannot hide what they are (config.validation.check_name) ----------------------------------

BIDI_AND_INVISIBLE = [
    *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x2066, 0x206A)),
    "\u200e",
    "\u200f",
    "\u061c",
    "\u200b",  # zero-width space (Cf)
    "\ufeff",  # byte order mark (Cf)
    "\u2028",  # line separator
]


@pytest.mark.parametrize("char", BIDI_AND_INVISIBLE + ["\x00", "\t", "\n", "\x1b", "\x7f", "\x85"])
def test_check_name_refuses_control_and_formatting_characters(char):
    from config.errors import InvalidParameter
    from config.validation import check_name, hidden_character_reason

    assert hidden_character_reason(f"a{char}b") is not None
    with pytest.raises(InvalidParameter):
        check_name(f"a{char}b", "name")


@pytest.mark.parametrize(
    "name", ["churn", "modèle", "модель", "模型", "نموذج", "מודל", "a b.c-d_e:f/g", "😀"]
)
def test_check_name_accepts_ordinary_letters_of_any_script(name):
    from config.validation import check_name

    assert check_name(name, "name") == name


def test_every_name_validator_refuses_a_right_to_left_override():
    from config.errors import InvalidParameter
    from registry import validation
    from registry.artifacts.storage import validate_artifact_path
    from registry.tracking import validation as tracking_validation

    bad = "evil\u202egnp.exe"
    checks = [
        lambda: validate_artifact_path(f"model/{bad}"),
        lambda: validation.validate_model_name(bad),
        lambda: validation.validate_alias(bad),
        lambda: validation.validate_tag(bad, "v"),
        lambda: tracking_validation.validate_key(bad),
        lambda: tracking_validation.validate_experiment_name(bad),
        lambda: tracking_validation.validate_name(bad, "run_name", 250),
    ]
    for check in checks:
        with pytest.raises(InvalidParameter):
            check()
    # Values keep their newlines and tabs.
    assert validation.validate_tag("k", "a\n\tb") == ("k", "a\n\tb")
