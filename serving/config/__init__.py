"""Versioned YAML configuration of the scoring service (policy, reason texts) and its loader."""

from importlib.resources import files
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from jifen.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def load_config_file(model: type[M], path: Path | None, shipped: str) -> M:
    """Read ``path`` (or the shipped file named ``shipped``) and validate it as ``model``.

    Raises:
        ConfigError: the file is missing, is not YAML, or breaks a rule; the message names
            the file, the field and the rule.

    """
    where = str(path) if path is not None else f"serving/config/{shipped}"
    try:
        text = (
            path.read_text(encoding="utf-8")
            if path is not None
            else (files("serving.config") / shipped).read_text(encoding="utf-8")
        )
        raw = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{where} cannot be read: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: "
            f"{str(err['msg']).removeprefix('Value error, ')}"
            for err in exc.errors()[:5]
        )
        raise ConfigError(f"{where} is invalid: {reasons}") from None
