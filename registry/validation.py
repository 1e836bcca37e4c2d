"""The registry's domain rules for names, tags, aliases, stages and descriptions (MLflow's rules, plus
Modelgate's). Pure functions: they take wire values and return clean ones or raise `InvalidParameter`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from config.common import MLFLOW_NAME_RE, path_not_unique
from config.errors import InvalidParameter
from config.validation import check_name, check_text

from .models import Stage

if TYPE_CHECKING:
    from tenants.models import Tenant

MAX_MODEL_NAME_LENGTH = 256
MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 100_000
OWNER_TEAM_TAG = "owner_team"
_ALIAS_RE = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")
STAGES = tuple(Stage.values)  # ("None", "Staging", "Production", "Archived")
_STAGE_BY_LOWER = {s.lower(): s for s in STAGES}


def validate_model_name(name: Any, field: str = "name") -> str:
    """MLflow's registered-model name rules, plus: no '@' (it would make `models:/name@alias` ambiguous) and no
    control characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter(
            f"Missing value for required parameter '{field}'. See the API docs for more "
            f"information about request parameters."
        )
    if len(name) > MAX_MODEL_NAME_LENGTH:
        raise InvalidParameter(
            f"Invalid model name '{name[:50]}…': at most {MAX_MODEL_NAME_LENGTH} characters."
        )
    if any(c in name for c in "/:@"):
        raise InvalidParameter(f"Invalid model name '{name}'. Names cannot contain '/', ':' or '@'.")
    check_name(name, field)  # NUL, control and bidirectional/invisible formatting characters
    if path_not_unique(name):
        raise InvalidParameter(
            f"Invalid value '{name}' for parameter '{field}': names may be treated as files "
            f"and must not resolve to other names."
        )
    return name


def validate_tag(key: Any, value: Any = "", *, check_value: bool = True) -> tuple[str, str]:
    if not isinstance(key, str) or key == "":
        raise InvalidParameter("Missing value for required parameter 'key'.")
    check_name(key, "key")
    if not MLFLOW_NAME_RE.match(key) or path_not_unique(key):
        raise InvalidParameter(
            f"Invalid value '{key}' for parameter 'key': names may only contain alphanumerics, "
            f"underscores (_), dashes (-), periods (.), spaces ( ), colon(:) and slashes (/)."
        )
    if len(key) > MAX_TAG_KEY_LENGTH:
        raise InvalidParameter(f"Tag key '{key[:50]}…' is longer than {MAX_TAG_KEY_LENGTH} characters.")
    if not check_value:
        return key, ""
    if value is None:
        raise InvalidParameter("Tag value cannot be None.")
    if not isinstance(value, str):
        value = str(value)
    check_text(value, "value")
    if len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidParameter(f"Tag value for '{key}' is longer than {MAX_TAG_VALUE_LENGTH} characters.")
    return key, value


def validate_alias(alias: Any) -> str:
    """MLflow's alias rules: non-empty, `^[\\w\\-]*$`, at most 255, `latest` and `v<digits>` reserved."""
    if not isinstance(alias, str) or alias == "":
        raise InvalidParameter("Registered model alias name cannot be empty.")
    if not _ALIAS_RE.match(alias):
        raise InvalidParameter(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, "
            f"underscores (_), and dashes (-)."
        )
    check_name(alias, "alias")  # after MLflow's message: `\w` already refuses these, this keeps it so
    if len(alias) > MAX_ALIAS_LENGTH:
        raise InvalidParameter(
            f"Registered model alias name exceeds the maximum length of {MAX_ALIAS_LENGTH}."
        )
    if alias.lower() == "latest":
        raise InvalidParameter("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS_RE.match(alias):
        raise InvalidParameter(f"Version alias name '{alias}' is reserved.")
    return alias


def find_stage(stage: Any) -> str | None:
    """The canonical spelling of a stage name (`staging` → `Staging`, surrounding blanks ignored), or None."""
    return _STAGE_BY_LOWER.get(stage.strip().lower()) if isinstance(stage, str) else None


def canonical_stage(stage: Any) -> str:
    """`staging` → `Staging`; anything unknown is a 400 with MLflow's message."""
    found = find_stage(stage)
    if found is None:
        raise InvalidParameter(
            f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(STAGES)}."
        )
    return found


def clean_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameter("'description' must be a string.")
    check_text(value, "description")
    if len(value) > MAX_DESCRIPTION_LENGTH:
        raise InvalidParameter(f"'description' is longer than {MAX_DESCRIPTION_LENGTH} characters.")
    return value


def is_ownership_tag(key: str) -> bool:
    return key == "owner" or key.startswith(("owner_", "owner.", "owner-"))


def is_protected_alias(tenant: Tenant, alias: str) -> bool:
    return alias in (tenant.protected_aliases or [])


def parse_version_number(version: Any) -> int:
    if isinstance(version, bool):
        raise InvalidParameter(f"Parameter 'version' must be an integer, got '{version}'.")
    try:
        number = int(str(version).strip())
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(f"Parameter 'version' must be an integer, got '{version}'.") from exc
    return number
