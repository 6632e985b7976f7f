"""Simulation settings: one frozen pydantic model, read from YAML.

The embedded ``default.yaml`` holds every tunable number. A user file only needs the keys
it changes: it is merged over the default (mappings key by key, lists replaced whole).
"""

from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.contracts.tables import INDUSTRIES, PRODUCTS, PURPOSES
from jifen.errors import ConfigError

_SHARE_TOLERANCE = 1e-6


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ZoneConfig(_Frozen):
    """A high-tech zone: where firms are registered and which division their codes carry."""

    id: str = Field(min_length=2, max_length=16)
    name: str = Field(min_length=2, description="Chinese name of the zone.")
    city: str = Field(min_length=2, description="City used in generated company names.")
    region: str = Field(min_length=2, max_length=32)
    division: str = Field(pattern=r"^\d{6}$", description="6-digit administrative division.")
    share: float = Field(gt=0, le=1)
    digital_park_share: float = Field(
        ge=0, le=1, description="Share of firms on the zone's digital park platform at q = 0."
    )


class IndustryConfig(_Frozen):
    """How an industry shapes size, innovation output, energy use and taxes."""

    share: float = Field(gt=0, le=1)
    words: list[str] = Field(min_length=1, description="Industry words for company names.")
    revenue_per_staff_wan: float = Field(gt=0)
    rd_staff_share: float = Field(gt=0, lt=1)
    rd_cost_per_staff_wan: float = Field(gt=0)
    kwh_per_staff: float = Field(gt=0, description="Monthly kWh per employee.")
    invention_rate: float = Field(ge=0, description="New invention patents per R&D staff-year.")
    utility_rate: float = Field(ge=0)
    design_rate: float = Field(ge=0)
    software_rate: float = Field(ge=0)
    ic_rate: float = Field(ge=0)
    tech_contract_prob: float = Field(ge=0, le=1)
    vat_rate: float = Field(gt=0, lt=0.2, description="VAT paid as a share of revenue.")
    margin: float = Field(gt=-1, lt=1, description="Mean net profit margin.")
    health_offset: float = 0.0


class HealthConfig(_Frozen):
    """Monthly health: h = quality_weight*q + stage offset + industry offset + x - stress."""

    quality_weight: float = Field(ge=0)
    phi: float = Field(ge=0, lt=1, description="AR(1) persistence of the deviation x.")
    sigma: float = Field(gt=0, description="Monthly innovation s.d. of x.")
    startup_sigma_factor: float = Field(ge=1)
    stage_offsets: dict[str, float]
    stress_prob: float = Field(ge=0, le=1, description="Monthly chance of a stress shock at q=0.")
    stress_quality_slope: float = Field(description="Log change of the shock chance per unit q.")
    stress_mean: float = Field(gt=0, description="Mean size of a shock (exponential).")
    stress_decay: float = Field(ge=0, lt=1, description="Monthly persistence of a problem.")
    stress_onset: float = Field(
        ge=0, lt=1, description="Inertia of stress: higher builds up (and fades) more slowly."
    )
    burn_in_months: int = Field(ge=12, le=120, description="Covers the fiscal year before.")

    @model_validator(mode="after")
    def _stages_known(self) -> Self:
        if set(self.stage_offsets) != {"startup", "growth", "mature"}:
            raise ValueError(
                "stage_offsets must name exactly startup, growth, mature; "
                f"got {sorted(self.stage_offsets)}"
            )
        return self


class HazardConfig(_Frozen):
    """Monthly default hazard, logistic in health with a cliff and interactions."""

    intercept: float
    health_slope: float = Field(ge=0)
    cliff_threshold: float
    cliff_slope: float = Field(ge=0)
    cliff_sharpness: float = Field(gt=0)
    quality_slope: float = Field(ge=0)
    young_quality_boost: float = Field(ge=0, description="Extra protection of q for startups.")
    young_offset: float
    leverage_stress_slope: float = Field(ge=0, description="Leverage x stress amplification.")
    max_monthly: float = Field(gt=0, le=1)


class PopulationConfig(_Frozen):
    """Static attributes of the enterprises."""

    age_years_min: float = Field(gt=0)
    age_years_max: float = Field(gt=0)
    age_log_mean: float
    age_log_sd: float = Field(gt=0)
    staff_log_base: float
    staff_age_slope: float
    staff_quality_slope: float
    staff_log_sd: float = Field(gt=0)
    staff_max: int = Field(gt=0)
    growth_mean: float
    growth_young_extra: float
    growth_quality_slope: float
    growth_sd: float = Field(ge=0)
    leverage_beta: tuple[float, float]
    registered_capital_log_mean: float
    registered_capital_log_sd: float = Field(gt=0)
    five_standards_failure_rate: float = Field(ge=0, le=1)
    defaulted_inactive_prob: float = Field(ge=0, le=1)
    meter_count_probs: list[float] = Field(min_length=1, max_length=5)
    exit_months_after_default: tuple[int, int]
    post_default_decay: float = Field(gt=0, lt=1, description="Monthly activity decay.")
    platform_registered_share: tuple[float, float]


class ProductConfig(_Frozen):
    """A loan product: its amount range (万元) and term choices."""

    amount_min_wan: float = Field(ge=1)
    amount_max_wan: float = Field(le=100_000)
    terms: list[int] = Field(min_length=1)
    term_weights: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if len(self.terms) != len(self.term_weights):
            raise ValueError(
                f"terms and term_weights must have the same length; "
                f"got {len(self.terms)} and {len(self.term_weights)}"
            )
        if self.amount_min_wan > self.amount_max_wan:
            raise ValueError(
                f"amount_min_wan must not exceed amount_max_wan; got {self.amount_min_wan} > "
                f"{self.amount_max_wan}"
            )
        return self


class ApplicationConfig(_Frozen):
    """Who applies, how often, for what."""

    monthly_rate: float = Field(gt=0, le=1, description="Monthly chance of a new application.")
    stress_need_slope: float = Field(description="Log change of the rate per unit of stress.")
    min_gap_months: int = Field(ge=1)
    renewal_prob: float = Field(
        ge=0, le=1, description="Chance a borrower applies to renew when its loan falls due."
    )
    initial_borrower_share: float = Field(
        ge=0, le=1, description="Share of firms holding a loan taken before the window opens."
    )
    points_quality_slope: float
    amount_revenue_share: float = Field(gt=0)
    amount_log_sd: float = Field(ge=0)
    products: dict[str, ProductConfig]
    purposes: dict[str, float]

    @model_validator(mode="after")
    def _known_names(self) -> Self:
        if set(self.products) != set(PRODUCTS):
            raise ValueError(
                f"products must be exactly {list(PRODUCTS)}; got {list(self.products)}"
            )
        unknown = set(self.purposes) - set(PURPOSES)
        if unknown:
            raise ValueError(f"purposes must be among {list(PURPOSES)}; got {sorted(unknown)}")
        return self


class MessinessConfig(_Frozen):
    """Rates of realistic, contract-conforming mess."""

    filing_missing_cell_rate: float = Field(ge=0, le=1)
    late_filing_rate: float = Field(ge=0, le=1)
    duplicate_filing_rate: float = Field(ge=0, le=1)
    revision_rate: float = Field(ge=0, le=1)
    revenue_outlier_rate: float = Field(ge=0, le=1)
    electricity_unit_error_rate: float = Field(ge=0, le=1)
    missing_month_rate: float = Field(ge=0, le=1)
    no_alt_data_rate: float = Field(
        ge=0, le=1, description="Share of firms with no alternative data at all at q = 0."
    )
    checkin_missing_day_rate: float = Field(ge=0, le=1)


class MissingDataConfig(_Frozen):
    """How data go missing as in life: weaker firms have thinner files, stressed ones stop.

    A firm in trouble stops reporting (a lapse): its tax returns are filed late, when it
    catches up, or never; its staff stop checking in; its power readings often stop too,
    and an annual filing due during a lapse comes late or not at all.
    """

    thin_file_quality_slope: float = Field(
        le=0, description="Log-odds of having no alternative data at all, per unit of quality."
    )
    digital_park_quality_slope: float = Field(
        ge=0, description="Log-odds of being on a digital park platform, per unit of quality."
    )
    lapse_intercept: float = Field(description="Monthly logit of a lapse at zero shortfall.")
    lapse_shortfall_slope: float = Field(
        ge=0, description="Log-odds of a lapse per unit of health shortfall (stress - x)."
    )
    lapse_resume_prob: float = Field(
        gt=0, le=1, description="Monthly chance a lapsed firm reports again."
    )
    lapse_electricity_missing: float = Field(
        ge=0, le=1, description="Chance a meter-month has no reading while its firm lapses."
    )


class EventConfig(_Frozen):
    """Credit events: what follows a default, and background episodes."""

    judgment_prob: float = Field(ge=0, le=1)
    judgment_lag_days: tuple[int, int]
    listing_prob: float = Field(ge=0, le=1, description="Unpaid judgment leads to a listing.")
    listing_lag_days: tuple[int, int]
    repair_prob: float = Field(ge=0, le=1)
    repair_lag_days: tuple[int, int]
    minor_overdue_intercept: float
    minor_overdue_health_slope: float
    background_judgment_prob: float = Field(ge=0, le=1, description="Monthly, any firm.")
    publish_lag_days: dict[str, tuple[int, int]]


class SignalConfig(_Frozen):
    """How strongly and how noisily the alternative data reflect the health deviation."""

    staff_health: float = Field(ge=0, description="Log headcount per unit of smoothed health.")
    staff_smoothing: float = Field(ge=0, lt=1, description="Monthly inertia of headcount.")
    revenue_health: float = Field(ge=0)
    revenue_quality: float = Field(ge=0)
    electricity_health: float = Field(ge=0, description="Log kWh per unit of health.")
    electricity_lag_weight: float = Field(ge=0, le=1, description="Weight of last month.")
    electricity_noise_sd: float = Field(ge=0)
    electricity_publish_lag_days: tuple[int, int]
    attendance_base: float = Field(description="Logit of attendance at zero deviation.")
    attendance_health: float = Field(ge=0)
    weekday_attendance: list[float] = Field(min_length=5, max_length=5)
    before_holiday_attendance: float = Field(gt=0, le=1)
    zero_filing_intercept: float
    zero_filing_health_slope: float = Field(le=0)
    zero_filing_after_default: float = Field(ge=0)
    late_tax_filing_rate: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _lags_positive(self) -> Self:
        lo, hi = self.electricity_publish_lag_days
        if not 1 <= lo <= hi:
            raise ValueError(
                f"electricity_publish_lag_days must satisfy 1 <= low <= high; got {lo}, {hi}"
            )
        return self


class OracleConfig(_Frozen):
    """Monte Carlo of the true 12-month PD."""

    paths: int = Field(ge=1, le=4096)
    batch_size: int = Field(ge=1)


class SimulationConfig(_Frozen):
    """Everything the simulator needs; the same config and seed give the same bytes."""

    seed: int = Field(ge=0)
    n_firms: int = Field(ge=1, le=5_000_000)
    snapshot_date: date
    history_years: int = Field(ge=1, le=8)
    chunk_size: int = Field(ge=1)
    zones: list[ZoneConfig] = Field(min_length=1)
    industries: dict[str, IndustryConfig]
    population: PopulationConfig
    health: HealthConfig
    hazard: HazardConfig
    applications: ApplicationConfig
    messiness: MessinessConfig
    missing_data: MissingDataConfig
    events: EventConfig
    signals: SignalConfig
    injection_rate: float = Field(ge=0, le=0.5)
    oracle: OracleConfig

    @model_validator(mode="after")
    def _mixes_are_complete(self) -> Self:
        if set(self.industries) != set(INDUSTRIES):
            raise ValueError(
                f"industries must be exactly {list(INDUSTRIES)}; got {list(self.industries)}"
            )
        for label, total in (
            ("zones share", sum(z.share for z in self.zones)),
            ("industries share", sum(i.share for i in self.industries.values())),
        ):
            if abs(total - 1) > _SHARE_TOLERANCE:
                raise ValueError(f"{label} must sum to 1; got {total:.6f}")
        ids = [z.id for z in self.zones]
        if len(set(ids)) != len(ids):
            raise ValueError(f"zone ids must be unique; got {ids}")
        return self

    def with_overrides(
        self,
        *,
        seed: int | None = None,
        n_firms: int | None = None,
        history_years: int | None = None,
    ) -> "SimulationConfig":
        """Return a copy with the given fields replaced; None keeps the current value."""
        updates = {
            key: value
            for key, value in (
                ("seed", seed),
                ("n_firms", n_firms),
                ("history_years", history_years),
            )
            if value is not None
        }
        return _validate({**self.model_dump(), **updates}, source="command-line overrides")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"simulation config {source} is not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"simulation config {source} must be a mapping; got {type(data).__name__}"
        )
    return data


def _validate(data: dict[str, Any], source: str) -> SimulationConfig:
    try:
        return SimulationConfig.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(root)"
        raise ConfigError(
            f"simulation config {source}: {where} {first['msg']}; got {first.get('input')!r}"
            f" ({error.error_count()} problem(s) in all)"
        ) from error


def default_config_text() -> str:
    """Return the embedded default YAML."""
    return files("features.simulate").joinpath("default.yaml").read_text(encoding="utf-8")


def load_simulation_config(path: Path | None = None) -> SimulationConfig:
    """Load the embedded default, merged with the YAML at ``path`` when given.

    Raises:
        ConfigError: the file is missing, is not YAML, or breaks a rule of the schema.

    """
    data = _read_yaml(default_config_text(), "default.yaml")
    source = "default.yaml"
    if path is not None:
        if not path.is_file():
            raise ConfigError(f"simulation config {path} does not exist")
        data = _merge(data, _read_yaml(path.read_text(encoding="utf-8"), str(path)))
        source = str(path)
    return _validate(data, source)
