"""Runs: a run's page (params, tags, datasets, artifacts browser, metric-history charts) and the compare page
(params and metrics side by side with differences marked, one overlaid chart per metric)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from config.errors import InvalidParameter
from registry import artifacts as storage
from registry.artifacts import selectors as artifact_selectors
from registry.tracking import selectors as tracking_selectors
from registry.tracking.models import Run
from tenants.access import Principal

from ..access import page, tenant_page
from ..charts import Series, line_chart
from .formatting import ms_datetime

MAX_CHARTS = 12
MAX_POINTS = 5000  # per series on a chart: enough to see the curve, bounded work per page
MAX_COMPARED = 10
ARTIFACT_URI_PREFIX = "mlflow-artifacts:/"


def run_label(run: Run) -> str:
    return f"{run.name} ({run.run_id[:7]})" if run.name else run.run_id[:7]


def history_points(principal: Principal, run: Run, key: str) -> list[tuple[float, float]]:
    metrics, _token = tracking_selectors.metric_history(principal, run, key, max_results=MAX_POINTS)
    # MLflow's charts plot against the step; several values at one step stay in logging order.
    return [(m.step, m.value) for m in sorted(metrics, key=lambda m: (m.step, m.timestamp))]


def artifact_root(run: Run) -> str:
    """The run's directory in the tenant's artifact tree (`<experiment>/<run id>/artifacts`)."""
    if run.artifact_uri.startswith(ARTIFACT_URI_PREFIX):
        return run.artifact_uri[len(ARTIFACT_URI_PREFIX) :].strip("/")
    return f"{run.experiment.number}/{run.run_id}/artifacts"


def _artifacts(principal: Principal, run: Run, sub: str) -> dict:
    root = artifact_root(run)
    here = storage.join(root, sub)
    download = f"/t/{principal.tenant.slug}/api/2.0/mlflow-artifacts/artifacts/"
    entries = []
    for entry in artifact_selectors.artifact_list(principal, here):
        rel = storage.join(sub, entry["path"])
        entries.append(
            {
                "name": entry["path"],
                "is_dir": entry["is_dir"],
                "size": entry.get("file_size"),
                "rel": rel,
                "download": "" if entry["is_dir"] else download + storage.join(root, rel),
            }
        )
    crumbs = []
    parts = sub.split("/") if sub else []
    for index, part in enumerate(parts):
        crumbs.append({"name": part, "rel": "/".join(parts[: index + 1])})
    return {"entries": entries, "crumbs": crumbs, "path": sub}


@require_safe
@tenant_page
def run_detail(request: HttpRequest, principal: Principal, run_id: str) -> HttpResponse:
    run = tracking_selectors.run_get(principal, run_id, with_data=True)
    sub = storage.validate_artifact_path(request.GET.get("path", ""), allow_empty=True)
    metrics = list(run.latest_metrics.all())
    charts = [
        {"key": m.key, "svg": line_chart([Series(m.key, history_points(principal, run, m.key))], title=m.key)}
        for m in metrics[:MAX_CHARTS]
    ]
    tags = list(run.tags.all())
    context = {
        "run": run,
        "label": run_label(run),
        "started": ms_datetime(run.start_time),
        "ended": ms_datetime(run.end_time),
        "params": list(run.params.all()),
        "metrics": metrics,
        "tags": [t for t in tags if not t.key.startswith("mlflow.")],
        "system_tags": [t for t in tags if t.key.startswith("mlflow.")],
        "datasets": list(run.dataset_inputs.all()),
        "artifacts": _artifacts(principal, run, sub),
        "charts": charts,
        "more_charts": max(0, len(metrics) - MAX_CHARTS),
    }
    return page(request, principal, "web/runs/detail.html", context, nav="experiments")


def _side_by_side(runs: list[Run], attr: str) -> list[dict]:
    """`[{"key", "values": [per run], "differs"}]` for params (`attr="params"`) or latest metrics."""
    per_run = [{item.key: item.value for item in getattr(run, attr).all()} for run in runs]
    keys = sorted({k for values in per_run for k in values})
    rows = []
    for key in keys:
        values = [values.get(key) for values in per_run]
        rows.append({"key": key, "values": values, "differs": len({repr(v) for v in values}) > 1})
    return rows


@require_safe
@tenant_page
def run_compare(request: HttpRequest, principal: Principal) -> HttpResponse:
    run_ids = list(dict.fromkeys(r.strip() for r in request.GET.getlist("run") if r.strip()))
    if not run_ids:
        raise InvalidParameter("Pick at least one run to compare (tick them on an experiment's page).")
    if len(run_ids) > MAX_COMPARED:
        raise InvalidParameter(f"Compare at most {MAX_COMPARED} runs at a time.")
    runs = [tracking_selectors.run_get(principal, run_id, with_data=True) for run_id in run_ids]
    metrics = _side_by_side(runs, "latest_metrics")
    charts = []
    for row in metrics[:MAX_CHARTS]:
        series = [
            Series(run_label(run), history_points(principal, run, row["key"]))
            for run, value in zip(runs, row["values"], strict=True)
            if value is not None
        ]
        charts.append({"key": row["key"], "svg": line_chart(series, title=row["key"])})
    context = {
        "runs": [{"run": r, "label": run_label(r)} for r in runs],
        "params": _side_by_side(runs, "params"),
        "metrics": metrics,
        "charts": charts,
        "more_charts": max(0, len(metrics) - MAX_CHARTS),
    }
    return page(request, principal, "web/runs/compare.html", context, nav="experiments")
