"""The shipped catalogues validate; broken ones fail naming the indicator and the field."""

import copy
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from features.catalogue import list_catalogues, load_catalogue
from features.catalogue.loader import versions_dir
from jifen.errors import ConfigError, NotFoundError

BASE = yaml.safe_load((versions_dir() / "national-2024-trial.yaml").read_text(encoding="utf-8"))


def _write(tmp_path: Path, data: dict[str, Any], name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _broken(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    data = copy.deepcopy(BASE)
    change(data)
    return _write(tmp_path, data)


def _indicator(data: dict[str, Any], indicator_id: str) -> dict[str, Any]:
    return next(i for i in data["indicators"] if i["id"] == indicator_id)


@pytest.mark.parametrize("version", list_catalogues())
def test_every_shipped_catalogue_validates(version: str) -> None:
    """Each YAML under versions/ loads, and its version matches its file name."""
    catalogue = load_catalogue(version)
    assert catalogue.version == version
    assert all(i.source_note for i in catalogue.indicators)


def test_shipped_versions_include_national_v2_and_a_regional_extension() -> None:
    """The three versions the project must hold side by side are shipped."""
    assert {"national-2024-trial", "v2.0-2025", "regional-2024-zone-ext"} <= set(list_catalogues())


def test_national_trial_has_18_indicators_in_three_classes_seven_confirmed() -> None:
    """7 + 6 + 5 indicators; the seven named in public reports are marked confirmed."""
    catalogue = load_catalogue("national-2024-trial")
    assert Counter(i.class_id for i in catalogue.indicators) == {
        "tech_innovation": 7,
        "growth_operations": 6,
        "auxiliary": 5,
    }
    confirmed = {i.id for i in catalogue.indicators if i.confirmed}
    assert confirmed == {
        "rd_expense",
        "rd_expense_growth",
        "tech_contract_turnover",
        "hightech_product_revenue",
        "roe",
        "new_graduates_hired",
        "vc_financing",
    }
    assert catalogue.stage_ids() == ["startup", "growth", "mature"]


def test_v2_has_four_categories_nine_core_and_three_bonus_indicators() -> None:
    """Version 2.0: input/output/development/impact, 9 scored to 100, 3 bonus to 30, cap 130."""
    catalogue = load_catalogue("v2.0-2025")
    assert catalogue.class_ids() == ["input", "output", "development", "impact"]
    assert Counter(i.part for i in catalogue.indicators) == {"core": 9, "bonus": 3}
    assert (catalogue.parts["core"].total, catalogue.parts["bonus"].total) == (100, 30)
    assert catalogue.max_total == 130


def test_pilot_2020_has_20_indicators_and_five_revenue_stages() -> None:
    """The 2020 pilot: 20 core indicators, stages by revenue from < 0.5m to >= 200m CNY."""
    catalogue = load_catalogue("pilot-2020")
    assert len(catalogue.indicators) == 20
    assert len(catalogue.stage_ids()) == 5
    bounds = [r.conditions[0].value for r in catalogue.stage_rules.rules]
    assert bounds == [20000, 2000, 500, 50]  # CNY 10k


def test_regional_extension_keeps_national_indicators_and_scales_their_weights() -> None:
    """The extension holds the 18 national ids, weights x 0.7, plus assumed local ones."""
    national = load_catalogue("national-2024-trial")
    regional = load_catalogue("regional-2024-zone-ext")
    assert regional.lineage == ["national-2024-trial"]
    local = [i for i in regional.indicators if i.part == "local"]
    assert len(regional.indicators) == 18 + len(local) and len(local) >= 5
    assert not any(i.confirmed for i in local)
    assert regional.indicator("rd_expense").weight("startup") == pytest.approx(
        0.7 * national.indicator("rd_expense").weight("startup")
    )
    assert regional.max_total == 100


def test_negative_weight_fails_naming_indicator_and_field(tmp_path: Path) -> None:
    """A weight below 0 is reported as 'indicator <id>: weights.<stage> must be >= 0'."""
    path = _broken(
        tmp_path, lambda d: _indicator(d, "rd_expense_growth")["weights"].update(growth=-1)
    )
    with pytest.raises(
        ConfigError, match=r"indicator rd_expense_growth: weights\.growth must be >= 0; got -1"
    ):
        load_catalogue(path)


def test_unknown_column_fails_naming_indicator_and_column(tmp_path: Path) -> None:
    """A source column that innovation_filings does not have is rejected."""
    path = _broken(
        tmp_path, lambda d: _indicator(d, "rd_staff_share")["source"].update(denominator="heads")
    )
    with pytest.raises(
        ConfigError, match=r"indicator rd_staff_share: source\.denominator: unknown column 'heads'"
    ):
        load_catalogue(path)


def test_unknown_qualification_date_fails(tmp_path: Path) -> None:
    """A flag source may only read the enterprises' qualification dates."""
    path = _broken(
        tmp_path,
        lambda d: _indicator(d, "qualifications")["source"].update(
            qualifications=["founding_date"]
        ),
    )
    with pytest.raises(
        ConfigError, match=r"indicator qualifications: .*unknown column 'founding_date'"
    ):
        load_catalogue(path)


def test_duplicate_indicator_ids_fail(tmp_path: Path) -> None:
    """Two indicators with one id are rejected, naming the id."""
    path = _broken(tmp_path, lambda d: d["indicators"][2].update(id="rd_expense"))
    with pytest.raises(ConfigError, match=r"duplicate indicator ids: \['rd_expense'\]"):
        load_catalogue(path)


def test_stage_weights_not_summing_to_the_declared_total_fail(tmp_path: Path) -> None:
    """Raising one growth-stage weight by 1 makes that stage sum to 101, not 100."""
    path = _broken(tmp_path, lambda d: _indicator(d, "rd_expense")["weights"].update(growth=9))
    with pytest.raises(
        ConfigError, match=r"weights\.growth of part 'core' must sum to .* 100.*; got 101"
    ):
        load_catalogue(path)


def test_weights_missing_a_stage_fail(tmp_path: Path) -> None:
    """Every indicator must weigh every declared stage."""
    path = _broken(tmp_path, lambda d: _indicator(d, "roe")["weights"].pop("mature"))
    with pytest.raises(ConfigError, match=r"indicator roe: weights must name exactly the stages"):
        load_catalogue(path)


def test_points_not_monotone_with_direction_fail(tmp_path: Path) -> None:
    """Higher-is-better thresholds must not give fewer points to a larger value."""
    path = _broken(
        tmp_path,
        lambda d: _indicator(d, "rd_expense")["scoring"].update(points=[0, 4, 2, 6, 8, 10]),
    )
    with pytest.raises(
        ConfigError, match=r"indicator rd_expense: scoring\.points must be non-decreasing"
    ):
        load_catalogue(path)


def test_bounds_not_increasing_fail(tmp_path: Path) -> None:
    """Threshold bounds must be strictly increasing."""
    path = _broken(
        tmp_path,
        lambda d: _indicator(d, "taxes_paid")["scoring"].update(bounds=[10, 50, 50, 300, 1000]),
    )
    with pytest.raises(ConfigError, match=r"indicator taxes_paid: .*strictly increasing"):
        load_catalogue(path)


def test_points_must_reach_max_points(tmp_path: Path) -> None:
    """The best bin earns max_points, so full weight is reachable."""
    path = _broken(tmp_path, lambda d: _indicator(d, "st_awards").update(max_points=12))
    with pytest.raises(ConfigError, match=r"indicator st_awards: .*max_points 12"):
        load_catalogue(path)


def test_unknown_field_and_unknown_class_fail(tmp_path: Path) -> None:
    """Typos in a field name or a class id are caught, not ignored."""
    path = _broken(tmp_path, lambda d: _indicator(d, "roe").update(colour="red"))
    with pytest.raises(ConfigError, match=r"indicator roe: colour is not a known field"):
        load_catalogue(path)
    path = _broken(tmp_path, lambda d: _indicator(d, "roe").update({"class": "finance"}))
    with pytest.raises(ConfigError, match=r"indicator roe: class 'finance' not in"):
        load_catalogue(path)


def test_class_count_different_from_declared_fails(tmp_path: Path) -> None:
    """Moving an indicator out of a class that declares 7 breaks the published structure."""
    path = _broken(tmp_path, lambda d: _indicator(d, "rd_platforms").update({"class": "auxiliary"}))
    with pytest.raises(
        ConfigError, match=r"class tech_innovation: expected_indicators is 7; got 6"
    ):
        load_catalogue(path)


def test_stage_rule_naming_an_unknown_stage_fails(tmp_path: Path) -> None:
    """Stage rules may only assign declared stages."""
    path = _broken(tmp_path, lambda d: d["stage_rules"].update(default="teen"))
    with pytest.raises(ConfigError, match=r"stage_rules: stage 'teen' not in"):
        load_catalogue(path)


def test_scalar_weight_applies_to_every_stage(tmp_path: Path) -> None:
    """'weights: 12' is shorthand for the same weight in each stage."""
    catalogue = load_catalogue("v2.0-2025")
    assert {catalogue.indicator("rd_expense").weight(s) for s in catalogue.stage_ids()} == {12}


def test_invalid_yaml_and_unknown_version_fail_clearly(tmp_path: Path) -> None:
    """A file that is not YAML, and a version that is not shipped, are named."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("indicators: [unclosed", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        load_catalogue(bad)
    with pytest.raises(NotFoundError, match=r"catalogue 'national-1999' is not shipped"):
        load_catalogue("national-1999")


def test_extension_adding_an_existing_id_fails(tmp_path: Path) -> None:
    """An extension may not redeclare a parent indicator."""
    extra = copy.deepcopy(_indicator(BASE, "roe")) | {"part": "local"}
    child = {
        "version": "child",
        "extends": "national-2024-trial",
        "effective_from": "2024-07-01",
        "description": "dup",
        "parts": {"local": {"total": 6}},
        "indicators": [extra],
    }
    with pytest.raises(ConfigError, match=r"duplicate indicator ids: \['roe'\]"):
        load_catalogue(_write(tmp_path, child, "child.yaml"))


def test_extension_weights_must_add_up_after_scaling(tmp_path: Path) -> None:
    """Without parent_weight_scale the parent's core still sums to 100, not the new 70."""
    child = yaml.safe_load((versions_dir() / "regional-2024-zone-ext.yaml").read_text())
    child.pop("parent_weight_scale")
    with pytest.raises(ConfigError, match=r"weights\.startup of part 'core' must sum to .*70"):
        load_catalogue(_write(tmp_path, child, "unscaled.yaml"))


def test_extends_cycle_fails(tmp_path: Path) -> None:
    """a.yaml extends b.yaml extends a.yaml is reported as a cycle."""
    for name, parent in (("a", "b.yaml"), ("b", "a.yaml")):
        _write(tmp_path, {"version": name, "extends": parent}, f"{name}.yaml")
    with pytest.raises(ConfigError, match=r"extends forms a cycle"):
        load_catalogue(tmp_path / "a.yaml")
