from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

# Warm MLflow serving reads are answered before Django's request handling (registry/fastpath.py); the same fast
# path runs as the outermost middleware for everything this entry leaves to Django.
from registry.fastpath import wsgi_entry  # noqa: E402  (needs the settings and apps set up above)

application = wsgi_entry(django_application)
