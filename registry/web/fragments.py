"""Links printed by the MLflow client point at MLflow's single-page UI: `http://host/t/acme/#/experiments/1/runs/<id>`.
The part after `#` never reaches the server, so the dashboard (which `/t/acme/` is) carries a tiny script that sends
the fragment here, to `/t/<tenant>/go/?to=<fragment>`, and this mapping picks the matching Modelgate page. One
mapping, in Python, tested as such; the script only forwards."""

from __future__ import annotations

import re
from urllib.parse import unquote

from django.urls import reverse

_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/experiments/(?P<experiment>\d+)/runs/(?P<run>[0-9a-f]{32})(?:/.*)?$"), "run"),
    (re.compile(r"^/experiments/(?P<experiment>\d+)(?:/.*)?$"), "experiment"),
    (re.compile(r"^/models/(?P<name>[^/]+)/versions/(?P<version>\d+)(?:/.*)?$"), "version"),
    (re.compile(r"^/models/(?P<name>[^/]+)/?$"), "model"),
    (re.compile(r"^/models/?$"), "models"),
    (re.compile(r"^/experiments/?$"), "experiments"),
]


def fragment_target(tenant: str, fragment: str) -> str | None:
    """The Modelgate page for an MLflow UI fragment (`#/experiments/1/runs/<id>`, with or without the `#`), or
    None when it names nothing we have a page for. A query string inside the fragment (`?o=…`) is ignored."""
    path = fragment.lstrip("#").split("?", 1)[0]
    for pattern, kind in _ROUTES:
        match = pattern.match(path)
        if match is None:
            continue
        parts = match.groupdict()
        if kind == "run":
            return reverse("web:run", kwargs={"tenant": tenant, "run_id": parts["run"]})
        if kind == "experiment":
            return reverse("web:experiment", kwargs={"tenant": tenant, "experiment_id": parts["experiment"]})
        if kind == "version":
            name = _unquote_name(parts["name"])
            return reverse(
                "web:version", kwargs={"tenant": tenant, "name": name, "version": int(parts["version"])}
            )
        if kind == "model":
            return reverse("web:model", kwargs={"tenant": tenant, "name": _unquote_name(parts["name"])})
        return reverse(f"web:{kind}", kwargs={"tenant": tenant})
    return None


def _unquote_name(name: str) -> str:
    # MLflow's UI percent-encodes model names in its routes; reverse() encodes again, so decode once here.
    return unquote(name)
