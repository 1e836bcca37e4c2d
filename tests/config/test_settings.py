"""Settings fail loudly: with DEBUG off, no SECRET_KEY is an error naming it, and a boolean variable that is not a
boolean (DEBUG=ture) is an error naming the variable and the accepted values. Startup is checked in a fresh
interpreter with a crafted environment (the settings are read once, at import)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.settings import env_bool
from tests.helpers import ROOT

SHOW = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY)"


def start_django(**env: str) -> subprocess.CompletedProcess:
    """Set Django up in a new interpreter with the current environment minus SECRET_KEY and DEBUG, plus `env`."""
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "BEHIND_TLS_PROXY"}}
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("debug", [None, "false", "0"])
def test_it_refuses_to_start_without_a_secret_key_when_debug_is_off(debug):
    proc = start_django(**({} if debug is None else {"DEBUG": debug}))
    assert proc.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set: " in proc.stderr, proc.stderr


def test_an_empty_secret_key_counts_as_not_set():
    proc = start_django(SECRET_KEY="")
    assert proc.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set: " in proc.stderr, proc.stderr


def test_it_starts_with_the_secret_key_from_the_environment():
    proc = start_django(SECRET_KEY="k-from-the-environment")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "k-from-the-environment"]


def test_debug_mode_starts_without_a_secret_key():
    proc = start_django(DEBUG="true")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "True"


@pytest.mark.parametrize(
    "name,value", [("DEBUG", "ture"), ("DEBUG", "enabled"), ("BEHIND_TLS_PROXY", "maybe")]
)
def test_it_refuses_to_start_when_a_boolean_variable_is_not_a_boolean(name, value):
    proc = start_django(SECRET_KEY="k", **{name: value})
    assert proc.returncode != 0
    assert f"ImproperlyConfigured: {name}='{value}' is not a boolean: " in proc.stderr, proc.stderr
    assert "1/0, true/false, yes/no or on/off (any case)" in proc.stderr


@pytest.mark.parametrize("value", ["1", "true", "True", "YES", "on", " On "])
def test_booleans_accept_the_usual_true_spellings_in_any_case(monkeypatch, value):
    monkeypatch.setenv("MODELGATE_TEST_FLAG", value)
    assert env_bool("MODELGATE_TEST_FLAG") is True


@pytest.mark.parametrize("value", ["0", "false", "FALSE", "No", "off"])
def test_booleans_accept_the_usual_false_spellings_in_any_case(monkeypatch, value):
    monkeypatch.setenv("MODELGATE_TEST_FLAG", value)
    assert env_bool("MODELGATE_TEST_FLAG", default=True) is False


@pytest.mark.parametrize("value", [None, "", "  "])
def test_an_unset_or_empty_boolean_takes_its_default(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("MODELGATE_TEST_FLAG", raising=False)
    else:
        monkeypatch.setenv("MODELGATE_TEST_FLAG", value)
    assert env_bool("MODELGATE_TEST_FLAG", default=True) is True
    assert env_bool("MODELGATE_TEST_FLAG", default=False) is False


@pytest.mark.parametrize("value", ["ture", "2", "y", "enable"])
def test_a_value_that_is_not_a_boolean_is_an_error_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv("MODELGATE_TEST_FLAG", value)
    with pytest.raises(
        ImproperlyConfigured, match=rf"^MODELGATE_TEST_FLAG='{value}' is not a boolean: use 1/0"
    ):
        env_bool("MODELGATE_TEST_FLAG")
