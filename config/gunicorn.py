"""Gunicorn settings for every way Modelgate is served (`gunicorn -c config/gunicorn.py config.wsgi …`: Procfile.dev,
the README's production command, bench/compare/servers.py). Bind address, workers, threads and timeout stay on the
command line; this file holds what must be the same everywhere.

Gunicorn refuses a request line over 4094 bytes with its own HTML 414 before Django sees it, and the MLflow client
sends registry searches as GET with the filter in the query string (`name IN (…)` over many models, long tag
filters). MLflow's own server has no such limit. Gunicorn clamps any value from 8190 up to 8190, so the only way
past it is 0, "unlimited", which its parser still caps at 1 MiB: long enough for any real filter, short enough
that a client cannot make a worker buffer without bound.
"""

from __future__ import annotations

limit_request_line = 0
# One header line (a long Authorization or Cookie header, many X-Forwarded-For hops): 16 KiB instead of 8 KiB.
limit_request_field_size = 16384
limit_request_fields = 100
