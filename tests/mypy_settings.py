"""The Django settings mypy's django-stubs plugin loads (pyproject.toml, [tool.django-stubs]): the real ones, with a
placeholder SECRET_KEY when none is set. The plugin imports the settings to learn the models; without a key,
config.settings refuses to load (DEBUG off) and mypy would crash instead of type checking. The plugin restores the
environment afterwards, and nothing served or run ever uses this module."""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "type-checking-only-never-served")

from config.settings import *  # noqa: E402, F403
