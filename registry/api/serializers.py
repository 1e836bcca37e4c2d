"""Input and output shapes of the native registry API. One Input serializer per write operation, Output
serializers shared by the views that answer with the same object. Shapes live here, in the API layer; the
services below them know nothing about JSON or HTTP."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.openapi import ErrorOutput  # noqa: F401  (re-exported for older imports)
from registry.models import ModelVersion, RegisteredModel, Stage
from registry.permissions_levels import LEVELS
from registry.validation import find_stage

# --- fields -----------------------------------------------------------------------------------------------------


class StageField(serializers.ChoiceField):
    """A stage name, matched case-insensitively (`staging` → `Staging`), like MLflow does."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=Stage.values, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        return find_stage(data) or super().to_internal_value(data)


@extend_schema_field(
    {"type": "string", "nullable": True, "description": f"One of {', '.join(Stage.values)}."}
)
class ExpectedStageField(StageField):
    """Same values as `stage`; its own schema so the enum is not named twice."""


@extend_schema_field(
    {
        "type": "integer",
        "nullable": True,
        "minimum": 0,
        "description": 'The version the alias must point to now; 0 or "": it must not exist yet; '
        "absent or null: no precondition.",
    }
)
class ExpectedVersionField(serializers.Field):
    """`null` = no precondition, `""` or `0` = the alias must not exist, `N` = it must point to version N."""

    def to_internal_value(self, data: Any) -> int:
        if data == "":
            return 0
        if isinstance(data, bool):
            self.fail("invalid")
        try:
            number = int(data)
        except (TypeError, ValueError, OverflowError):  # OverflowError: 1e400 parses as an infinite float
            self.fail("invalid")
        if number < 0 or (isinstance(data, float) and not data.is_integer()):
            self.fail("invalid")
        return number

    def to_representation(self, value: Any) -> Any:
        return value

    default_error_messages = {"invalid": 'Expected a version number, 0 or "" (must not exist), or null.'}


# --- inputs -----------------------------------------------------------------------------------------------------


class ModelCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=256)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=100_000)
    tags = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=5000),
        required=False,
        help_text="Tags as `{key: value}`.",
    )
    owner_team = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=63,
        help_text="Slug of the owning team (default: the caller's only team).",
    )


class DescriptionInput(serializers.Serializer):
    description = serializers.CharField(allow_blank=True, max_length=100_000)


class RenameInput(serializers.Serializer):
    new_name = serializers.CharField(max_length=256)


class TagInput(serializers.Serializer):
    value = serializers.CharField(allow_blank=True, max_length=5000)


class TagOutput(serializers.Serializer):
    key = serializers.CharField()
    value = serializers.CharField(allow_blank=True)


class OwnerInput(serializers.Serializer):
    team = serializers.CharField(max_length=63, help_text="Slug of the new owning team.")


class GrantSerializer(serializers.Serializer):
    """One grant: exactly one of `team` (a team slug) or `user` (a username), and a level."""

    team = serializers.CharField(required=False, max_length=63)
    user = serializers.CharField(required=False, max_length=150)
    level = serializers.ChoiceField(choices=LEVELS)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("team" in attrs) == ("user" in attrs):
            raise serializers.ValidationError("Name exactly one of 'team' or 'user'.")
        return attrs

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {k: instance[k] for k in ("team", "user", "level") if k in instance}


class GrantsDocument(serializers.Serializer):
    """The complete set of grants on a model (PUT replaces it; ownership is not a grant and is not listed)."""

    grants = GrantSerializer(many=True)


class VersionCreateInput(serializers.Serializer):
    source = serializers.CharField(  # type: ignore[assignment]  # the API's field name shadows Field.source
        max_length=1000, help_text="`runs:/<run_id>/<path>`, `models:/m-<id>` or an artifact URI."
    )
    run_id = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=32)
    description = serializers.CharField(required=False, allow_blank=True, default="", max_length=100_000)
    tags = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=5000), required=False
    )
    run_link = serializers.CharField(required=False, allow_blank=True, default="", max_length=1000)


class StageTransitionInput(serializers.Serializer):
    stage = StageField()
    archive_existing_versions = serializers.BooleanField(default=False)
    expected_stage = ExpectedStageField(
        required=False,
        allow_null=True,
        help_text="The stage the version must be in now, else 409 CONFLICT. An `If-Match` "
        "header with the version's ETag (or a stage name) does the same.",
    )
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    gate = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text="A promotion gate checked with the model's policy gate in the same locked transaction "
        "(see transition requests); failed → 409 CONFLICT with the gate result in `details`.",
    )


class AliasSetInput(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    expected_version = ExpectedVersionField(required=False, allow_null=True)


# --- outputs ----------------------------------------------------------------------------------------------------


def version_etag(version: ModelVersion) -> str:
    """Changes whenever the version does; `If-Match` on the stage endpoint compares it."""
    return f'"{version.version}:{version.stage}:{version.last_updated_timestamp}"'


class VersionOutput(serializers.Serializer):
    name = serializers.CharField(source="model.name")
    version = serializers.IntegerField()
    status = serializers.CharField()
    status_message = serializers.CharField(allow_blank=True)
    stage = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    source = serializers.CharField()  # type: ignore[assignment]  # the API's field name shadows Field.source
    run_id = serializers.CharField(allow_blank=True)
    run_link = serializers.CharField(allow_blank=True)
    created_by = serializers.CharField(source="user_label", allow_blank=True)
    manifest_sha256 = serializers.CharField(allow_blank=True)
    tags = serializers.SerializerMethodField()
    aliases = serializers.SerializerMethodField()
    etag = serializers.SerializerMethodField()
    creation_timestamp = serializers.IntegerField()
    last_updated_timestamp = serializers.IntegerField()

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_tags(self, obj: ModelVersion) -> dict[str, str]:
        return {t.key: t.value for t in obj.tags.all()}

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_aliases(self, obj: ModelVersion) -> list[str]:
        return sorted(a.alias for a in obj.aliases.all())

    def get_etag(self, obj: ModelVersion) -> str:
        return version_etag(obj)


class ModelOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    owner_team = serializers.CharField(source="owner_team.slug", allow_null=True)
    tags = serializers.SerializerMethodField()
    aliases = serializers.SerializerMethodField()
    creation_timestamp = serializers.IntegerField()
    last_updated_timestamp = serializers.IntegerField()

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_tags(self, obj: RegisteredModel) -> dict[str, str]:
        return {t.key: t.value for t in obj.tags.all()}

    @extend_schema_field(
        serializers.DictField(child=serializers.IntegerField(), help_text="alias → version number")
    )
    def get_aliases(self, obj: RegisteredModel) -> dict[str, int]:
        return {a.alias: a.version.version for a in obj.aliases.all()}


class ModelDetailOutput(ModelOutput):
    latest_versions = serializers.SerializerMethodField(
        help_text="The newest version in each stage that has one."
    )
    permission_level = serializers.SerializerMethodField(
        help_text="The caller's effective level on this model (before token scopes)."
    )

    @extend_schema_field(VersionOutput(many=True))
    def get_latest_versions(self, obj: RegisteredModel) -> Any:
        return VersionOutput(self.context.get("latest_versions", []), many=True).data

    @extend_schema_field({"type": "string", "nullable": True, "description": f"One of {', '.join(LEVELS)}."})
    def get_permission_level(self, obj: RegisteredModel) -> str | None:
        return self.context.get("permission_level")


class AliasOutput(serializers.Serializer):
    name = serializers.CharField(source="model.name")
    alias = serializers.CharField()
    version = serializers.IntegerField(source="version.version")
    protected = serializers.SerializerMethodField()
    model_version = VersionOutput(source="version")

    def get_protected(self, obj: Any) -> bool:
        return obj.alias in (obj.model.tenant.protected_aliases or [])


class ResolveOutput(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    stage = serializers.CharField()
    aliases = serializers.ListField(child=serializers.CharField())
    status = serializers.CharField()
    download_uri = serializers.CharField()
    manifest_sha256 = serializers.CharField(allow_null=True)


__all__ = [
    "AliasOutput",
    "AliasSetInput",
    "DescriptionInput",
    "ErrorOutput",
    "GrantsDocument",
    "ModelCreateInput",
    "ModelDetailOutput",
    "ModelOutput",
    "OwnerInput",
    "RenameInput",
    "ResolveOutput",
    "StageTransitionInput",
    "TagInput",
    "TagOutput",
    "VersionCreateInput",
    "VersionOutput",
    "version_etag",
]
