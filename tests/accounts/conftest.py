"""Helpers shared by the management command tests: run a command, expect a one-line failure, read the token
printed alone on the last line."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

TOKEN_RE = re.compile(r"^mgt_[A-Za-z0-9_-]{30,}$")


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def fails(*args: str, match: str, returncode: int = 1) -> str:
    with pytest.raises(CommandError) as info:
        run(*args)
    message = str(info.value)
    assert re.search(match, message), message
    assert "\n" not in message.strip()
    if not message.startswith("Error: "):  # argparse errors always exit 2 from the command line
        assert info.value.returncode == returncode, message
    return message


def last_line(output: str) -> str:
    return output.rstrip("\n").splitlines()[-1]
