"""Filters of the native API's lists (django-filter). They only ever narrow a queryset that starts from what the
caller may read (`registry.api.selectors`)."""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema_field

from registry.models import ModelVersion, RegisteredModel, Stage
from registry.validation import find_stage


def _canonical_stage(value: str) -> str:
    stage = find_stage(value)
    if stage is not None:
        return stage
    # The client's text goes in `params`, never into the message itself: django-filter formats the message with
    # `%`, so a '%' in the input would break it (TypeError, a 500).
    raise forms.ValidationError(
        "Unknown stage %(value)r: use one of %(stages)s.",
        params={"value": value, "stages": ", ".join(Stage.values)},
    )


class _TagsField(forms.Field):
    """`?tag=a:1&tag=b:2`: every value of the repeated parameter, each validated as `key:value`."""

    widget = forms.MultipleHiddenInput  # reads every value of the parameter (QueryDict.getlist)

    def to_python(self, value) -> list[tuple[str, str]]:
        pairs = []
        for item in value or []:
            key, sep, tag_value = str(item).partition(":")
            if not sep or not key:
                raise forms.ValidationError(
                    "Invalid tag filter %(item)r: use 'key:value'.", params={"item": item}
                )
            if "\x00" in item:  # PostgreSQL refuses NUL in a query: a database error, not "no match"
                raise forms.ValidationError("Invalid tag filter: NUL characters are not allowed.")
            pairs.append((key, tag_value))
        return pairs


class _StageField(forms.CharField):
    def to_python(self, value) -> str:
        value = super().to_python(value)
        return _canonical_stage(value) if value else value


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string"},
        "description": "`key:value`; repeat to require several tags (all must match).",
    }
)
class TagsFilter(django_filters.Filter):
    field_class = _TagsField


@extend_schema_field({"type": "string", "description": f"A stage ({', '.join(Stage.values)}), any case."})
class StageFilter(django_filters.CharFilter):
    field_class = _StageField


class RegisteredModelFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(field_name="name", lookup_expr="exact", help_text="Exact model name.")
    name__contains = django_filters.CharFilter(
        field_name="name", lookup_expr="contains", help_text="Substring of the model name (case-sensitive)."
    )
    tag = TagsFilter(
        method="filter_tag", help_text="`key:value`; repeat to require several tags (all must match)."
    )
    team = django_filters.CharFilter(field_name="owner_team__slug", help_text="Slug of the owning team.")
    stage = StageFilter(method="filter_stage", help_text="Only models with a version in this stage.")

    class Meta:
        model = RegisteredModel
        fields: list[str] = []

    def filter_tag(self, queryset: QuerySet, name: str, value: list[tuple[str, str]]) -> QuerySet:
        for key, tag_value in value:
            # One filter() per tag so each tag must match on its own row (AND, not "any tag row matches all").
            queryset = queryset.filter(tags__key=key, tags__value=tag_value)
        return queryset

    def filter_stage(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(pk__in=ModelVersion.objects.filter(stage=value).values("model_id"))


class ModelVersionFilter(django_filters.FilterSet):
    stage = StageFilter(method="filter_stage", help_text="Only versions in this stage.")
    status = django_filters.ChoiceFilter(choices=ModelVersion._meta.get_field("status").choices)

    class Meta:
        model = ModelVersion
        fields: list[str] = []

    def filter_stage(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(stage=value)
