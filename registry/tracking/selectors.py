"""Reads for experiment tracking. Every query starts from the caller's tenant; an object the caller may not read
answers exactly like a missing one (404)."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, Exists, F, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Cast

from config.errors import InvalidParameter, NotFound
from config.validation import ascii_digits, is_storable
from registry import permissions, search
from tenants.access import Principal

from .models import (
    DATASET_CONTEXT_TAG,
    Experiment,
    ExperimentTag,
    LatestMetric,
    LoggedModel,
    LoggedModelParam,
    LoggedModelTag,
    Metric,
    Param,
    Run,
    RunInput,
    RunInputTag,
    RunModelInput,
    RunOutput,
    RunTag,
)

MAX_RUNS_PER_PAGE = 50000
DEFAULT_RUNS_PER_PAGE = 1000
MAX_EXPERIMENTS_PER_PAGE = 50000
DEFAULT_EXPERIMENTS_PER_PAGE = 1000
MAX_LOGGED_MODELS_PER_PAGE = 50000
DEFAULT_LOGGED_MODELS_PER_PAGE = 50
METRIC_HISTORY_PAGE = 25000

VIEW_TYPES = {
    "ACTIVE_ONLY": ("active",),
    "DELETED_ONLY": ("deleted",),
    "ALL": ("active", "deleted"),
    "1": ("active",),
    "2": ("deleted",),
    "3": ("active", "deleted"),
}


def lifecycle_stages(view_type: Any) -> tuple[str, ...]:
    if view_type in (None, ""):
        return ("active",)
    stages = VIEW_TYPES.get(str(view_type).upper())
    if stages is None:
        raise InvalidParameter(f"Invalid view_type '{view_type}': use ACTIVE_ONLY, DELETED_ONLY or ALL.")
    return stages


# --- experiments -------------------------------------------------------------------------------------------------


def parse_experiment_number(experiment_id: Any) -> int | None:
    text = str(experiment_id).strip() if experiment_id is not None else ""
    if not ascii_digits(text) or len(text) > 18:  # isdigit() alone admits "²", which int() refuses
        return None
    return int(text)


def experiment_get(principal: Principal, experiment_id: Any) -> Experiment:
    """By MLflow id (the per-tenant number, as a string)."""
    number = parse_experiment_number(experiment_id)
    experiment = (
        Experiment.objects.for_tenant(principal.tenant).filter(number=number).first()
        if number is not None
        else None
    )
    if experiment is None or not permissions.can_read_experiment(principal, experiment):
        raise NotFound(f"No Experiment with id={experiment_id} exists")
    return experiment


def experiment_get_by_name(principal: Principal, name: str) -> Experiment:
    # A name PostgreSQL cannot hold (NUL) names nothing, rather than becoming a database error.
    experiment = (
        Experiment.objects.for_tenant(principal.tenant).filter(name=name).first()
        if is_storable(name)
        else None
    )
    if experiment is None or not permissions.can_read_experiment(principal, experiment):
        raise NotFound(f"Could not find experiment with name '{name}'")
    return experiment


def readable_experiments(principal: Principal) -> QuerySet:
    return permissions.readable_experiments(principal, Experiment.objects.for_tenant(principal.tenant))


def _tag_exists(model, fk: str, clause: search.Clause) -> Any:
    base = model.objects.filter(**{fk: OuterRef("pk")}, key=clause.key)
    if clause.op == "IS NULL":
        return ~Exists(base)
    if clause.op == "IS NOT NULL":
        return Exists(base)
    return Exists(base.filter(search.string_q("value", clause.op, clause.value)))


_EXPERIMENT_ORDER = {
    "name": "name",
    "experiment_id": "number",
    "creation_time": "creation_time",
    "last_update_time": "last_update_time",
}


def experiments_search(
    principal: Principal,
    *,
    view_type: Any = None,
    filter_string: str | None = None,
    order_by: Any = None,
    max_results: Any = None,
    page_token: str | None = None,
) -> tuple[list[Experiment], str | None]:
    clauses = search.parse_filter(filter_string, "experiments")
    orders = search.parse_order_by(order_by, "experiments")
    size = search.page_size(
        max_results, default=DEFAULT_EXPERIMENTS_PER_PAGE, maximum=MAX_EXPERIMENTS_PER_PAGE
    )
    offset = search.decode_page_token(page_token)
    qs = readable_experiments(principal).filter(lifecycle_stage__in=lifecycle_stages(view_type))
    qs = qs.annotate(eid=Cast("number", CharField()))
    for clause in clauses:
        if clause.entity == "tag":
            qs = qs.filter(_tag_exists(ExperimentTag, "experiment", clause))
        elif clause.key in ("creation_time", "last_update_time"):
            qs = qs.filter(search.numeric_q(clause.key, clause.op, clause.value))
        else:
            field = "eid" if clause.key == "experiment_id" else "name"
            qs = qs.filter(search.string_q(field, clause.op, clause.value))
    ordering = [
        (F(_EXPERIMENT_ORDER[o.key]).asc() if o.ascending else F(_EXPERIMENT_ORDER[o.key]).desc())
        for o in orders
    ] or [F("creation_time").desc()]
    ordering.append(F("number").asc())
    qs = qs.order_by(*ordering).prefetch_related(
        Prefetch("tags", queryset=ExperimentTag.objects.order_by("id"))
    )
    return search.page(qs, offset, size)


# --- runs --------------------------------------------------------------------------------------------------------


def with_run_data(qs: QuerySet) -> QuerySet:
    """Prefetch what MLflow's `Run` JSON shows: latest metrics, params, tags, dataset inputs (with their
    datasets and input tags), model inputs and model outputs (7 queries, whatever the number of runs)."""
    return qs.select_related("experiment").prefetch_related(
        Prefetch("latest_metrics", queryset=LatestMetric.objects.order_by("key")),
        Prefetch("params", queryset=Param.objects.order_by("key")),
        Prefetch("tags", queryset=RunTag.objects.order_by("id")),
        Prefetch("dataset_inputs", queryset=RunInput.objects.select_related("dataset").order_by("id")),
        Prefetch("dataset_inputs__tags", queryset=RunInputTag.objects.order_by("id")),
        Prefetch(
            "model_inputs", queryset=RunModelInput.objects.select_related("logged_model").order_by("id")
        ),
        Prefetch("outputs", queryset=RunOutput.objects.select_related("logged_model").order_by("id")),
    )


def run_get(principal: Principal, run_id: Any, *, with_data: bool = False) -> Run:
    run_id = str(run_id or "")
    qs: QuerySet = Run.objects.for_tenant(principal.tenant).filter(run_id=run_id)
    qs = with_run_data(qs) if with_data else qs.select_related("experiment")
    run = qs.first() if run_id and is_storable(run_id) else None
    if run is None or not permissions.can_read_experiment(principal, run.experiment):
        raise NotFound(f"Run with id={run_id} not found")
    return run


_RUN_ATTR_FIELDS = {
    "run_id": "run_id",
    "run_name": "name",
    "status": "status",
    "user_id": "user_label",
    "artifact_uri": "artifact_uri",
    "start_time": "start_time",
    "end_time": "end_time",
}


def _run_clause(clause: search.Clause) -> Any:
    if clause.entity == "metric":
        return Exists(
            LatestMetric.objects.filter(run=OuterRef("pk"), key=clause.key).filter(
                search.numeric_q("value", clause.op, clause.value)
            )
        )
    if clause.entity == "param":
        return _tag_exists(Param, "run", clause)
    if clause.entity == "tag":
        return _tag_exists(RunTag, "run", clause)
    if clause.entity == "dataset":
        return _dataset_exists(clause)
    field = _RUN_ATTR_FIELDS[clause.key]
    if clause.key in ("start_time", "end_time"):
        return search.numeric_q(field, clause.op, clause.value)
    return search.string_q(field, clause.op, clause.value)


def _dataset_exists(clause: search.Clause) -> Any:
    """`datasets.name/digest/context`: the run has a dataset input that matches (each clause on its own, as in
    MLflow: `datasets.name = 'a' AND datasets.digest = 'b'` may be met by two different inputs)."""
    if clause.key == "context":
        inputs = RunInputTag.objects.filter(run_input__run=OuterRef("pk"), key=DATASET_CONTEXT_TAG)
        return Exists(inputs.filter(search.string_q("value", clause.op, clause.value)))
    return Exists(
        RunInput.objects.filter(run=OuterRef("pk")).filter(
            search.string_q(f"dataset__{clause.key}", clause.op, clause.value)
        )
    )


def _order_expression(order: search.OrderBy, *, run_ref: str = "pk") -> Any:
    if order.entity == "attribute":
        return F(_RUN_ATTR_FIELDS[order.key])
    model: Any = {"metric": LatestMetric, "param": Param, "tag": RunTag}[order.entity]
    return Subquery(model.objects.filter(run=OuterRef(run_ref), key=order.key).values("value")[:1])


def runs_search(
    principal: Principal,
    *,
    experiment_ids: list[Any],
    filter_string: str | None = None,
    run_view_type: Any = None,
    max_results: Any = None,
    order_by: Any = None,
    page_token: str | None = None,
) -> tuple[list[Run], str | None]:
    clauses = search.parse_filter(filter_string, "runs")
    orders = search.parse_order_by(order_by, "runs")
    size = search.page_size(max_results, default=DEFAULT_RUNS_PER_PAGE, maximum=MAX_RUNS_PER_PAGE)
    offset = search.decode_page_token(page_token)
    numbers = {n for n in (parse_experiment_number(e) for e in experiment_ids or []) if n is not None}
    experiments = readable_experiments(principal).filter(number__in=numbers)
    qs: QuerySet = Run.objects.for_tenant(principal.tenant).filter(
        experiment__in=experiments,
        lifecycle_stage__in=lifecycle_stages(run_view_type),
    )
    for clause in clauses:
        qs = qs.filter(_run_clause(clause))
    ordering = []
    for index, order in enumerate(orders):
        name = f"_o{index}"
        qs = qs.annotate(**{name: _order_expression(order)})
        ordering.append(F(name).asc(nulls_last=True) if order.ascending else F(name).desc(nulls_last=True))
    # MLflow's tie-breakers: newest first, then run id.
    ordering += [F("start_time").desc(), F("run_id").asc()]
    qs = with_run_data(qs.order_by(*ordering))
    return search.page(qs, offset, size)


def metric_history(
    principal: Principal, run: Run, key: str, *, max_results: Any = None, page_token: str | None = None
) -> tuple[list[Metric], str | None]:
    size = search.page_size(max_results, default=METRIC_HISTORY_PAGE, maximum=METRIC_HISTORY_PAGE)
    offset = search.decode_page_token(page_token)
    if not is_storable(key):
        return [], None
    qs = Metric.objects.filter(run=run, key=key).order_by("timestamp", "step", "value", "id")
    return search.page(qs, offset, size)


# --- logged models -----------------------------------------------------------------------------------------------


def with_logged_model_data(qs: QuerySet) -> QuerySet:
    return qs.select_related("experiment", "source_run").prefetch_related(
        Prefetch("tags", queryset=LoggedModelTag.objects.order_by("key")),
        Prefetch("params", queryset=LoggedModelParam.objects.order_by("key")),
    )


def logged_model_metrics(logged_models: list[LoggedModel]) -> dict[str, list[Metric]]:
    """The metrics logged against each model (`model_id` on the metric), one query for all of them."""
    ids = [m.model_id for m in logged_models]
    result: dict[str, list[Metric]] = {mid: [] for mid in ids}
    if not ids:
        return result
    tenant_id = logged_models[0].tenant_id
    for metric in (
        Metric.objects.filter(run__tenant_id=tenant_id, model_id__in=ids)
        .select_related("run")
        .order_by("key", "step", "timestamp", "id")
    ):
        result[metric.model_id].append(metric)
    return result


def logged_model_get(principal: Principal, model_id: Any, *, with_data: bool = True) -> LoggedModel:
    model_id = str(model_id or "")
    qs: QuerySet = LoggedModel.objects.for_tenant(principal.tenant).filter(model_id=model_id)
    qs = with_logged_model_data(qs) if with_data else qs.select_related("experiment")
    logged_model = qs.first() if model_id and is_storable(model_id) else None
    if logged_model is None or not permissions.can_read_experiment(principal, logged_model.experiment):
        raise NotFound(f"Logged model with ID '{model_id}' not found.")
    return logged_model


def logged_model_get_for_render(logged_model: LoggedModel) -> LoggedModel:
    """Re-read a logged model a service just wrote, with what its JSON shows."""
    return with_logged_model_data(
        LoggedModel.objects.for_tenant(logged_model.tenant_id).filter(pk=logged_model.pk)
    ).get()


_LM_ATTR_FIELDS = {
    "name": "name",
    "model_id": "model_id",
    "model_type": "model_type",
    "status": "status",
    "source_run_id": "source_run__run_id",
    "creation_timestamp": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
}


def _logged_model_clause(clause: search.Clause) -> Any:
    if clause.entity == "tag":
        return _tag_exists(LoggedModelTag, "logged_model", clause)
    if clause.entity == "param":
        return _tag_exists(LoggedModelParam, "logged_model", clause)
    if clause.entity == "metric":
        return Exists(
            Metric.objects.filter(
                run__tenant_id=OuterRef("tenant_id"), model_id=OuterRef("model_id"), key=clause.key
            ).filter(search.numeric_q("value", clause.op, clause.value))
        )
    field = _LM_ATTR_FIELDS[clause.key]
    if clause.key in ("creation_timestamp", "last_updated_timestamp"):
        return search.numeric_q(field, clause.op, clause.value)
    return search.string_q(field, clause.op, clause.value)


def logged_models_search(
    principal: Principal,
    *,
    experiment_ids: list[Any],
    filter_string: str | None = None,
    order_by: Any = None,
    max_results: Any = None,
    page_token: str | None = None,
) -> tuple[list[LoggedModel], str | None]:
    clauses = search.parse_filter(filter_string, "logged_models")
    items = []
    for item in order_by or []:
        # MLflow sends `[{field_name, ascending, dataset_name?, dataset_digest?}]`; strings are accepted too.
        if isinstance(item, dict):
            field = item.get("field_name")
            if not isinstance(field, str):
                raise InvalidParameter("order_by[].field_name must be a string.")
            ascending = item.get("ascending", True)
            items.append(f"{field} {'ASC' if ascending in (True, 'true', None) else 'DESC'}")
        else:
            items.append(item)
    orders = search.parse_order_by(items, "logged_models")
    size = search.page_size(
        max_results, default=DEFAULT_LOGGED_MODELS_PER_PAGE, maximum=MAX_LOGGED_MODELS_PER_PAGE
    )
    offset = search.decode_page_token(page_token)
    numbers = {n for n in (parse_experiment_number(e) for e in experiment_ids or []) if n is not None}
    experiments = readable_experiments(principal).filter(number__in=numbers)
    qs: QuerySet = LoggedModel.objects.for_tenant(principal.tenant).filter(
        experiment__in=experiments, lifecycle_stage="active"
    )
    for clause in clauses:
        qs = qs.filter(_logged_model_clause(clause))
    ordering = []
    for index, order in enumerate(orders):
        name = f"_o{index}"
        if order.entity == "metric":
            expr: Any = Subquery(
                Metric.objects.filter(
                    run__tenant_id=OuterRef("tenant_id"), model_id=OuterRef("model_id"), key=order.key
                )
                .order_by("-step", "-timestamp")
                .values("value")[:1]
            )
        else:
            expr = F(_LM_ATTR_FIELDS[order.key])
        qs = qs.annotate(**{name: expr})
        ordering.append(F(name).asc(nulls_last=True) if order.ascending else F(name).desc(nulls_last=True))
    ordering += [F("creation_timestamp").desc(), F("model_id").asc()]
    qs = with_logged_model_data(qs.order_by(*ordering))
    return search.page(qs, offset, size)
