"""The pages' forms. They only shape and validate input; the services decide (and re-check permissions)."""

from __future__ import annotations

from typing import cast

from django import forms
from django.conf import settings

from accounts.services import DEFAULT_SCOPES
from registry.models import Stage
from registry.permissions_levels import LEVELS
from tenants.models import Role

LEVEL_CHOICES = [(level, level.replace("_", " ")) for level in LEVELS]
STAGE_CHOICES = [("", "any stage"), *[(s, s) for s in Stage.values]]


def _choice(form: forms.Form, name: str) -> forms.ChoiceField:
    return cast(forms.ChoiceField, form.fields[name])


class ModelFilterForm(forms.Form):
    q = forms.CharField(label="Name contains", required=False, max_length=256)
    tag = forms.CharField(
        label="Tag", required=False, max_length=500, help_text="key=value", widget=forms.TextInput()
    )
    team = forms.ChoiceField(label="Owner team", required=False)
    stage = forms.ChoiceField(label="Stage", required=False, choices=STAGE_CHOICES)

    def __init__(self, *args, teams: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _choice(self, "team").choices = [("", "any team"), *[(t, t) for t in teams]]


class GrantForm(forms.Form):
    """One row of the grants editor: a subject (`team:<slug>` or `user:<username>`) and a level. An empty subject
    or a ticked "remove" drops the row."""

    subject = forms.ChoiceField(label="Team or user", required=False)
    level = forms.ChoiceField(label="Level", choices=LEVEL_CHOICES, initial="read")
    remove = forms.BooleanField(label="Remove", required=False)

    def __init__(self, *args, subjects: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _choice(self, "subject").choices = [("", "—"), *subjects]

    def grant(self) -> dict[str, str] | None:
        subject = self.cleaned_data.get("subject")
        if not subject or self.cleaned_data.get("remove"):
            return None
        kind, _, name = subject.partition(":")
        return {kind: name, "level": self.cleaned_data["level"]}


GrantFormSet = forms.formset_factory(GrantForm, extra=2, max_num=200)


class TransitionForm(forms.Form):
    stage = forms.ChoiceField(label="Move to stage")
    archive_existing_versions = forms.BooleanField(
        label="Archive the versions now in that stage", required=False
    )
    comment = forms.CharField(label="Comment", required=False, max_length=1000)
    # The stage the user saw: a concurrent change makes the service answer 409 instead of moving blindly.
    expected_stage = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, stages: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _choice(self, "stage").choices = [(s, s) for s in stages]


class AliasSetForm(forms.Form):
    alias = forms.CharField(
        label="Alias", max_length=255, help_text="A new name, or an existing alias to move it here."
    )


class AliasDeleteForm(forms.Form):
    alias = forms.CharField(max_length=255, widget=forms.HiddenInput)


class TokenForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, required=False, help_text="What it is for.")
    scopes = forms.MultipleChoiceField(
        label="Scopes", widget=forms.CheckboxSelectMultiple, help_text="Only what your role allows."
    )
    expires_days = forms.IntegerField(label="Expires in (days)", min_value=1, max_value=3650)

    def __init__(self, *args, role: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        allowed = DEFAULT_SCOPES[Role(role)]
        _choice(self, "scopes").choices = [(s, s) for s in allowed]
        self.fields["scopes"].initial = ["read"] if "read" in allowed else []
        default_days = cast(int, settings.MODELGATE["TOKEN_DEFAULT_DAYS"])
        self.fields["expires_days"].initial = min(90, default_days)


class RequestStageForm(forms.Form):
    """Ask for a stage (anyone who reads the model); the optional gate is checked when the request is applied."""

    stage = forms.ChoiceField(label="Request stage")
    archive_existing_versions = forms.BooleanField(
        label="Archive the versions now in that stage", required=False
    )
    comment = forms.CharField(label="Comment", required=False, max_length=1000)
    gate_metric = forms.CharField(label="Gate metric", required=False, max_length=250, help_text="e.g. auc")
    gate_op = forms.ChoiceField(
        label="Gate comparison",
        required=False,
        choices=[("", "—"), (">=", ">="), (">", ">"), ("<=", "<="), ("<", "<")],
    )
    gate_threshold = forms.FloatField(label="Gate threshold", required=False)
    gate_compare_to = forms.CharField(
        label="Or compare to", required=False, max_length=250, help_text="Production or @alias"
    )
    gate_min_delta = forms.FloatField(label="Minimum improvement", required=False)

    def __init__(self, *args, stages: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        _choice(self, "stage").choices = [(s, s) for s in stages]

    def gate(self) -> dict[str, object] | None:
        """The gate in the API's shape, or None; the service validates it (and names what is wrong)."""
        data = self.cleaned_data
        if not data.get("gate_metric"):
            return None
        gate: dict[str, object] = {"metric": data["gate_metric"].strip(), "op": data.get("gate_op") or ">="}
        for key in ("threshold", "compare_to", "min_delta"):
            value = data.get(f"gate_{key}")
            if value not in (None, ""):
                gate[key] = value
        return gate


class DecisionForm(forms.Form):
    comment = forms.CharField(label="Comment", required=False, max_length=1000)
