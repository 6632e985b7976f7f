"""The shipped feature set is complete, consistent and safe to feed monotone constraints."""

from pathlib import Path

import pytest
import yaml

from features.definitions.model import Group, Monotone, definitions_dir, load_feature_set
from jifen.errors import ConfigError, NotFoundError


def test_v1_has_at_least_80_features_across_all_groups() -> None:
    """v1 names 80+ features and every group contributes."""
    fs = load_feature_set("v1")
    assert len(fs.features) >= 80
    assert all(fs.by_group(group) for group in Group)


def test_no_feature_is_named_like_a_label() -> None:
    """Outcome columns (label_*, default_*, outcome_*) can never be features."""
    for name in load_feature_set().names:
        assert not name.startswith(("label_", "default_", "outcome_")), name


def test_monotone_constraints_are_plus_minus_one_or_zero() -> None:
    """Every feature maps to +1, -1 or 0; strings are always 0."""
    fs = load_feature_set()
    constraints = fs.monotone_constraints()
    assert set(constraints.values()) <= {-1, 0, 1}
    for feature in fs.features:
        if feature.dtype == "string":
            assert feature.monotone is Monotone.NONE


def _copy_v1(tmp_path: Path) -> Path:
    folder = tmp_path / "v9"
    folder.mkdir()
    for path in (definitions_dir() / "v1").glob("*.yaml"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def test_duplicate_feature_name_is_refused(tmp_path: Path) -> None:
    """Two definitions of the same name fail with the name in the message."""
    folder = _copy_v1(tmp_path)
    data = yaml.safe_load((folder / "tax.yaml").read_text(encoding="utf-8"))
    data["features"].append(dict(data["features"][0]))
    (folder / "tax.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="tax_vat_sum_3m"):
        load_feature_set(folder)


def test_group_file_of_another_version_is_refused(tmp_path: Path) -> None:
    """A group file whose feature_set_version differs from feature_set.yaml is refused."""
    folder = _copy_v1(tmp_path)
    text = (folder / "credit.yaml").read_text(encoding="utf-8")
    (folder / "credit.yaml").write_text(
        text.replace("feature_set_version: v1", "feature_set_version: v2"), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="feature_set_version must equal"):
        load_feature_set(folder)


def test_unknown_source_table_is_refused(tmp_path: Path) -> None:
    """A source that is not a raw table fails naming the feature and the source."""
    folder = _copy_v1(tmp_path)
    text = (folder / "firm.yaml").read_text(encoding="utf-8")
    (folder / "firm.yaml").write_text(
        text.replace("sources: [enterprises]", "sources: [rumours]", 1), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="rumours"):
        load_feature_set(folder)


def test_unknown_version_is_not_found() -> None:
    """Asking for a version that is not shipped names the shipped ones."""
    with pytest.raises(NotFoundError, match="shipped"):
        load_feature_set("v99")
