"""Labels and section texts of the decision report, from ``serving/reports/report.yaml``."""

from functools import lru_cache
from importlib.resources import files
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jifen.errors import ConfigError

SHIPPED = "report.yaml"
Section = Literal["decision", "points", "reasons", "rules", "provenance", "model", "audit"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bilingual(_Frozen):
    """A text in Chinese and English."""

    zh: str = Field(min_length=1)
    en: str = Field(min_length=1)


class DecisionReportConfig(_Frozen):
    """The report file."""

    report_version: str = Field(min_length=1)
    outcomes: dict[Literal["approve", "refer", "decline"], Bilingual]
    groups: dict[str, Bilingual]
    tables: dict[str, Bilingual]
    standard_status: dict[Literal["pass", "fail", "unknown"], Bilingual]
    texts: dict[Section, Bilingual]

    def group(self, name: str) -> Bilingual:
        """Label of a feature group (its own name when the file has none)."""
        return self.groups.get(name) or Bilingual(zh=name, en=name)


@lru_cache(maxsize=1)
def load_decision_report_config() -> DecisionReportConfig:
    """Read and validate the shipped report file.

    Raises:
        ConfigError: the file is not YAML or breaks a rule (named).

    """
    where = f"serving/reports/{SHIPPED}"
    try:
        raw = yaml.safe_load(files("serving.reports").joinpath(SHIPPED).read_text("utf-8"))
        return DecisionReportConfig.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{where} cannot be read: {exc}") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "file"
        raise ConfigError(f"{where}: {field}: {err['msg']}") from exc
