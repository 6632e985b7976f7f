"""The simulation config: embedded default, YAML overrides, readable refusals."""

from pathlib import Path

import pytest

from features.simulate import load_simulation_config
from features.simulate.calendar import build_timeline
from jifen.errors import ConfigError


def test_default_config_loads_with_the_documented_defaults() -> None:
    """The embedded default has 17,000 firms, 5 years and a fixed snapshot date."""
    cfg = load_simulation_config()
    assert (cfg.n_firms, cfg.history_years, cfg.chunk_size) == (17_000, 5, 5_000)
    assert str(cfg.snapshot_date) == "2025-12-31"


def test_overrides_replace_only_the_given_fields() -> None:
    """None keeps a field; a value replaces it; the result is validated and frozen."""
    cfg = load_simulation_config().with_overrides(seed=3, n_firms=None, history_years=2)
    assert (cfg.seed, cfg.n_firms, cfg.history_years) == (3, 17_000, 2)
    with pytest.raises(ValueError, match="frozen"):
        cfg.seed = 4  # type: ignore[misc]


def test_override_breaking_a_rule_names_the_field() -> None:
    """A bad override is refused with the field's name."""
    with pytest.raises(ConfigError, match="n_firms"):
        load_simulation_config().with_overrides(n_firms=0)


def test_user_yaml_is_merged_over_the_default(tmp_path: Path) -> None:
    """A file changing one nested key keeps every other default."""
    path = tmp_path / "sim.yaml"
    path.write_text("hazard:\n  intercept: -8.0\ninjection_rate: 0\n", encoding="utf-8")
    cfg = load_simulation_config(path)
    default = load_simulation_config()
    assert cfg.hazard.intercept == -8.0
    assert cfg.injection_rate == 0
    assert cfg.hazard.cliff_slope == default.hazard.cliff_slope


def test_unknown_key_is_refused_with_its_name(tmp_path: Path) -> None:
    """A misspelt key is an error, not silently ignored."""
    path = tmp_path / "sim.yaml"
    path.write_text("n_firmz: 10\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="n_firmz"):
        load_simulation_config(path)


def test_zone_shares_must_sum_to_one(tmp_path: Path) -> None:
    """Zone shares that do not add up are refused with the total."""
    path = tmp_path / "sim.yaml"
    path.write_text(
        "zones:\n  - {id: zgc, name: 中关村, city: 北京, region: 北京市海淀区, "
        "division: '110108', share: 0.5, digital_park_share: 0.5}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="zones share must sum to 1"):
        load_simulation_config(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    """A config path that does not exist is named in the error."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_simulation_config(tmp_path / "nope.yaml")


def test_years_outside_the_holiday_table_are_refused() -> None:
    """A window reaching before the built-in holiday table raises ConfigError."""
    cfg = load_simulation_config().with_overrides(history_years=8)
    with pytest.raises(ConfigError, match="holiday table"):
        build_timeline(cfg.snapshot_date, 12, cfg.health.burn_in_months)
