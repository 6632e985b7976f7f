"""Online vectors from Feast: the direct SQLite path gives exactly what Feast's path gives."""

import pytest

from features.credit_code import make_credit_code
from serving.core.feature_store import FeastFeatureSource
from tests.serving.conftest import FeatureRepo

SERVICE = "credit_risk_v1"


@pytest.fixture(scope="module")
def sources(feature_repo: FeatureRepo) -> tuple[FeastFeatureSource, FeastFeatureSource]:
    return (
        FeastFeatureSource(feature_repo.path, SERVICE),
        FeastFeatureSource(feature_repo.path, SERVICE, direct=False),
    )


def test_direct_reads_equal_feasts_online_read_for_every_firm_and_an_unknown_one(
    sources: tuple[FeastFeatureSource, FeastFeatureSource], feature_repo: FeatureRepo
) -> None:
    """Same values, same NULLs, same per-group as-of times; None for a firm not in the store."""
    direct, feast = sources
    codes = [*feature_repo.credit_codes, make_credit_code("110108", "YY9YY9YY")]
    assert direct.direct and not feast.direct
    assert direct.read(codes) == feast.read(codes)
    assert direct.read(codes)[-1] is None


def test_filtered_direct_reads_equal_feasts_filtered_reads(
    sources: tuple[FeastFeatureSource, FeastFeatureSource], feature_repo: FeatureRepo
) -> None:
    """The direct query fetches only the rows asked for, and still answers as Feast does."""
    direct, feast = sources
    codes = [*feature_repo.credit_codes, make_credit_code("110108", "YY9YY9YY")]
    names = {"firm_age_years", "points_total", "credit_overdue_count_24m", "not_a_feature"}
    assert direct.read(codes, names) == feast.read(codes, names)
    assert all(
        v is None or set(v.values) == names - {"not_a_feature"} for v in direct.read(codes, names)
    )


def test_reads_return_only_the_features_asked_for_with_every_group_time(
    sources: tuple[FeastFeatureSource, FeastFeatureSource], feature_repo: FeatureRepo
) -> None:
    """A names filter trims the values, not the as-of times of the groups the firm is in."""
    direct, _ = sources
    [vector] = direct.read(feature_repo.credit_codes[:1], {"firm_age_years", "points_total"})
    assert vector is not None
    assert set(vector.values) == {"firm_age_years", "points_total"}
    assert {"firm", "points", "credit", "tax"} <= set(vector.as_of)


def test_every_served_feature_is_mapped_to_its_group(
    sources: tuple[FeastFeatureSource, FeastFeatureSource],
) -> None:
    """Groups come from the views' tags (the definitions' groups)."""
    direct, _ = sources
    assert direct.group_of["points_total"] == "points"
    assert direct.group_of["credit_overdue_count_24m"] == "credit"
