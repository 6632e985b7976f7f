"""Find, read, merge and validate catalogue YAML files.

Shipped catalogues live in ``features/catalogue/versions/<version>.yaml``. A file may
``extends:`` another catalogue (a shipped version, or a ``.yaml`` path relative to the
file) and then only states what it adds: new classes, parts and indicators, and
optionally new stage rules, missing policy, white list or cap. The parent's weights are
multiplied by ``parent_weight_scale`` so that the parts still add up as declared.
"""

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from features.catalogue.models import Catalogue
from jifen.errors import ConfigError, NotFoundError

_EXTENSION_KEYS = frozenset(
    {
        "version",
        "effective_from",
        "description",
        "extends",
        "parent_weight_scale",
        "classes",
        "parts",
        "total_cap",
        "stage_rules",
        "missing_policy",
        "whitelist",
        "indicators",
    }
)
_APPENDED = ("classes", "indicators")


def versions_dir() -> Path:
    """Folder of the shipped catalogue files (package data)."""
    return Path(str(resources.files("features.catalogue") / "versions"))


def list_catalogues() -> list[str]:
    """Versions of the shipped catalogues, sorted by name."""
    return sorted(p.stem for p in versions_dir().glob("*.yaml"))


def load_catalogue(version_or_path: str | Path) -> Catalogue:
    """Load and validate a catalogue by shipped version name or by YAML path.

    Args:
        version_or_path: A shipped version (see ``list_catalogues()``) or a path to a
            ``.yaml`` file.

    Raises:
        NotFoundError: No shipped version or file of that name.
        ConfigError: The file is not valid YAML or breaks a catalogue rule; the message
            names the file, the indicator and the field.

    """
    return _load(_locate(version_or_path), chain=())


def _locate(version_or_path: str | Path, relative_to: Path | None = None) -> Path:
    text = str(version_or_path)
    if text.endswith((".yaml", ".yml")):
        path = Path(text)
        if relative_to is not None and not path.is_absolute():
            path = relative_to / path
        if not path.is_file():
            raise NotFoundError(f"catalogue file {path} does not exist")
        return path
    path = versions_dir() / f"{text}.yaml"
    if not path.is_file():
        raise NotFoundError(f"catalogue {text!r} is not shipped; known: {list_catalogues()}")
    return path


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"catalogue {path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(
            f"catalogue {path}: top level must be a mapping; got {type(data).__name__}"
        )
    return data


def _load(path: Path, chain: tuple[Path, ...]) -> Catalogue:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(p.name for p in (*chain, resolved))
        raise ConfigError(f"catalogue {path}: extends forms a cycle: {cycle}")
    raw = _read_yaml(path)
    if "extends" in raw:
        parent = _load(_locate(str(raw["extends"]), relative_to=path.parent), (*chain, resolved))
        raw = _merge(parent, raw, path)
    try:
        catalogue = Catalogue.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(describe_errors(exc, raw, path)) from exc
    if path.parent == versions_dir() and catalogue.version != path.stem:
        raise ConfigError(
            f"catalogue {path}: version must equal the file name {path.stem!r}; "
            f"got {catalogue.version!r}"
        )
    return catalogue


def _merge(parent: Catalogue, child: dict[str, Any], path: Path) -> dict[str, Any]:
    unknown = sorted(set(child) - _EXTENSION_KEYS)
    if unknown:
        raise ConfigError(
            f"catalogue {path}: an extension may not set {unknown}; allowed: "
            f"{sorted(_EXTENSION_KEYS)}"
        )
    scale = child.get("parent_weight_scale", 1.0)
    if not isinstance(scale, int | float) or scale <= 0:
        raise ConfigError(f"catalogue {path}: parent_weight_scale must be > 0; got {scale!r}")
    merged: dict[str, Any] = parent.model_dump(mode="json", by_alias=True)
    for indicator in merged["indicators"]:
        weights = indicator["weights"]
        indicator["weights"] = (
            {stage: w * scale for stage, w in weights.items()}
            if isinstance(weights, dict)
            else weights * scale
        )
    for key, value in child.items():
        if key in _APPENDED:
            merged[key] = [*merged[key], *(value or [])]
        elif key == "parts":
            merged["parts"] = {**merged["parts"], **(value or {})}
        elif key not in ("extends", "parent_weight_scale"):
            merged[key] = value
    merged["lineage"] = [*parent.lineage, parent.version]
    return merged


def describe_errors(exc: ValidationError, raw: dict[str, Any], path: Path) -> str:
    """Turn pydantic's errors into lines naming the file, the indicator and the field."""
    lines = [_describe(err, raw) for err in exc.errors()]
    return f"catalogue {path}: " + "; ".join(lines)


def _describe(err: Any, raw: dict[str, Any]) -> str:
    loc = _without_tags(list(err["loc"]), raw)
    subject = ""
    if len(loc) >= 2 and loc[0] == "indicators" and isinstance(loc[1], int):
        indicators = raw.get("indicators") or []
        entry = indicators[loc[1]] if loc[1] < len(indicators) else {}
        ident = entry.get("id", f"#{loc[1]}") if isinstance(entry, dict) else f"#{loc[1]}"
        subject = f"indicator {ident}: "
        loc = loc[2:]
    field = ".".join(str(part) for part in loc)
    message = _message(err)
    if err["type"] in ("value_error", "assertion_error"):
        return f"{subject}{field + ': ' if field else ''}{message}"
    return f"{subject}{field or 'value'} {message}; got {err.get('input')!r}"


def _without_tags(loc: list[Any], raw: Any) -> list[Any]:
    """Drop the discriminator tags pydantic puts in locations (``source.ratio.numerator``)."""
    kept: list[Any] = []
    node, tag_dropped = raw, False
    for part in loc:
        if isinstance(node, dict) and not tag_dropped and node.get("kind") == part:
            tag_dropped = True
            continue
        kept.append(part)
        tag_dropped = False
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return kept


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _message(err: Any) -> str:
    ctx = {k: _number(v) for k, v in (err.get("ctx") or {}).items()}
    templates = {
        "greater_than_equal": "must be >= {ge}",
        "greater_than": "must be > {gt}",
        "less_than_equal": "must be <= {le}",
        "less_than": "must be < {lt}",
        "missing": "is required",
        "extra_forbidden": "is not a known field",
        "literal_error": "must be one of {expected}",
        "string_pattern_mismatch": "must match {pattern}",
        "union_tag_invalid": "kind must be one of {expected_tags}",
    }
    template = templates.get(err["type"])
    if template is not None:
        try:
            return template.format(**ctx)
        except KeyError:
            pass
    return str(err["msg"]).removeprefix("Value error, ")
