"""Selectors of the hottest registry reads answered from rows in as few statements as PostgreSQL allows
(`registry.rows`, `registry.search.versions`): `model-versions/search` and `registered-models/get`. Same
answers as `registry.selectors` (whose ORM paths other databases keep), same gatekeepers: a model the caller may
not read answers exactly like a missing one."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection

from config.errors import InvalidParameter
from config.validation import is_storable
from tenants.access import Principal

from . import rows, search, selectors
from .models import RegisteredModel, RegisteredModelTag
from .permissions import allows, readable, reads_whole_tenant


def versions_search_rows(
    principal: Principal,
    filter_string: str | None = None,
    order_by: list[str] | None = None,
    max_results: Any = None,
    page_token: Any = None,
) -> tuple[list[tuple[Any, ...]], str | None]:
    """`selectors.versions_search` as version rows (`registry.rows`): on PostgreSQL one statement for the page,
    its model names and tags (`registry.search.versions`)."""
    if connection.vendor != "postgresql":
        versions, token = selectors.versions_search(
            principal, filter_string, order_by, max_results, page_token
        )
        return [rows.version_row(v) for v in versions], token
    limit = search.page_size(
        max_results, default=selectors.VERSIONS_DEFAULT_RESULTS, maximum=selectors.VERSIONS_MAX_RESULTS
    )
    offset = search.decode_page_token(page_token)
    clauses = search.parse_filter(filter_string, "model_versions")
    orders = search.parse_order_by(order_by, "model_versions")
    readable_sql: str | None = None
    readable_params: tuple[Any, ...] = ()
    if not reads_whole_tenant(principal):
        try:
            # The gatekeeper decides which models are readable; its queryset is compiled, not re-implemented.
            readable_sql, readable_params = (
                readable(principal, RegisteredModel.objects.all()).values("pk").query.sql_with_params()
            )
        except EmptyResultSet:  # no `read` scope: nothing is readable
            return [], None
    found = search.search_versions(
        clauses,
        orders,
        readable_sql,
        readable_params,
        tenant_id=principal.tenant.pk,
        offset=offset,
        limit=limit + 1,
    )
    if len(found) > limit:
        return found[:limit], search.encode_page_token(offset + limit)
    return found, None


def model_for_output(principal: Principal, name: str) -> RegisteredModel:
    """`selectors.model_for_output` in ONE statement on PostgreSQL: the model with its tags, aliases and newest
    version per stage (with their tags) annotated (`registry.rows`), then `selectors.model_get`'s checks."""
    if connection.vendor != "postgresql":
        return selectors.model_for_output(principal, name)
    if not isinstance(name, str) or not name:
        raise InvalidParameter("Missing value for required parameter 'name'.")
    if not is_storable(name):
        raise selectors._model_not_found(name)
    # No select_related: the gatekeeper reads only the model's tenant and owner team ids, the answer neither.
    found = (
        RegisteredModel.objects.for_tenant(principal.tenant)
        .filter(name=name)
        .annotate(
            tag_pairs=rows.tag_pairs(RegisteredModelTag, RegisteredModel, "model_id"),
            alias_pairs=rows.alias_pairs(),
            latest_json=rows.latest_json(),
        )
        .first()
    )
    if found is None or not allows(principal, found, "read"):
        raise selectors._model_not_found(name)
    found.latest_rows = rows.latest_rows_from_json(found, found.latest_json)  # type: ignore[attr-defined]
    return found


def model_latest_rows(model: RegisteredModel) -> list[tuple[Any, ...]]:
    """The model's newest version per stage as version rows: annotated by `model_for_output`, else from
    `latest_versions` (`registry.latest.attach_latest`)."""
    latest = getattr(model, "latest_rows", None)
    if latest is not None:
        return list(latest)
    return [rows.version_row(v, model.name) for v in selectors.model_latest_from_prefetch(model)]
