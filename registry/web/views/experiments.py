"""Experiments: the list (MLflow's search grammar in a search box) and an experiment's runs table, whose
checkboxes pick runs for the compare page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from config.errors import InvalidParameter
from registry.tracking import selectors as tracking_selectors
from tenants.access import Principal

from ..access import page, tenant_page
from .formatting import ms_datetime

EXPERIMENTS_PER_PAGE = 25
RUNS_PER_PAGE = 50
COLUMNS = 6  # metric and param columns shown in the runs table (the run page has them all)
VIEW_TYPES = [("ACTIVE_ONLY", "active"), ("DELETED_ONLY", "deleted"), ("ALL", "all")]


@require_safe
@tenant_page
def experiment_list(request: HttpRequest, principal: Principal) -> HttpResponse:
    filter_string = request.GET.get("filter", "").strip()
    view_type = request.GET.get("view", "ACTIVE_ONLY")
    if view_type not in dict(VIEW_TYPES):
        view_type = "ACTIVE_ONLY"
    error = ""
    experiments: list = []
    next_token = None
    try:
        experiments, next_token = tracking_selectors.experiments_search(
            principal,
            view_type=view_type,
            filter_string=filter_string or None,
            order_by=["name ASC"],
            max_results=EXPERIMENTS_PER_PAGE,
            page_token=request.GET.get("page_token") or None,
        )
    except InvalidParameter as exc:
        error = exc.message
    rows = [
        {
            "experiment": e,
            "created": ms_datetime(e.creation_time),
            "tags": [t for t in e.tags.all() if not t.key.startswith("mlflow.")],
        }
        for e in experiments
    ]
    context = {
        "rows": rows,
        "filter": filter_string,
        "view": view_type,
        "view_types": VIEW_TYPES,
        "error": error,
        "next_token": next_token,
    }
    return page(request, principal, "web/experiments/list.html", context, nav="experiments")


def run_rows(runs: list) -> tuple[list[dict], list[str], list[str]]:
    """Rows for a runs table, and the metric and param keys to show as columns (the first few, by name)."""
    metric_keys = sorted({m.key for r in runs for m in r.latest_metrics.all()})[:COLUMNS]
    param_keys = sorted({p.key for r in runs for p in r.params.all()})[:COLUMNS]
    rows = []
    for run in runs:
        metrics = {m.key: m.value for m in run.latest_metrics.all()}
        params = {p.key: p.value for p in run.params.all()}
        rows.append(
            {
                "run": run,
                "started": ms_datetime(run.start_time),
                "metrics": [metrics.get(k) for k in metric_keys],
                "params": [params.get(k, "") for k in param_keys],
            }
        )
    return rows, metric_keys, param_keys


@require_safe
@tenant_page
def experiment_detail(request: HttpRequest, principal: Principal, experiment_id: str) -> HttpResponse:
    experiment = tracking_selectors.experiment_get(principal, experiment_id)
    filter_string = request.GET.get("filter", "").strip()
    order_by = request.GET.get("order_by", "").strip()
    error = ""
    runs: list = []
    next_token = None
    try:
        runs, next_token = tracking_selectors.runs_search(
            principal,
            experiment_ids=[experiment.number],
            filter_string=filter_string or None,
            order_by=[order_by] if order_by else None,
            max_results=RUNS_PER_PAGE,
            page_token=request.GET.get("page_token") or None,
        )
    except InvalidParameter as exc:
        error = exc.message
    rows, metric_keys, param_keys = run_rows(runs)
    context = {
        "experiment": experiment,
        "created": ms_datetime(experiment.creation_time),
        "tags": sorted(experiment.tags.all(), key=lambda t: t.key),
        "rows": rows,
        "metric_keys": metric_keys,
        "param_keys": param_keys,
        "filter": filter_string,
        "order_by": order_by,
        "error": error,
        "next_token": next_token,
    }
    return page(request, principal, "web/experiments/detail.html", context, nav="experiments")
