"""The Feast repository holds definitions only, and `feast apply` can read it as it is."""

from pathlib import Path

from feast.repo_operations import parse_repo

import features.feast_repo
from features.definitions.model import load_feature_set

REPO = Path(features.feast_repo.__file__).parent


def test_feast_parses_the_repository_without_duplicates() -> None:
    """Feast's own parser finds one entity, one source, a view per group and the v1 service."""
    contents = parse_repo(REPO)
    assert [e.name for e in contents.entities if e.name != "__dummy"] == ["enterprise"]
    assert [s.name for s in contents.data_sources] == ["entity_features"]
    assert sorted(v.name for v in contents.feature_views) == sorted(
        f"enterprise_{g}"
        for g in ("electricity", "checkins", "tax", "credit", "innovation", "firm", "points")
    )
    assert [s.name for s in contents.feature_services] == ["credit_risk_v1"]


def test_views_serve_every_enterprise_feature_once() -> None:
    """The views together carry exactly the entity features of the definitions."""
    contents = parse_repo(REPO)
    served = [f.name for v in contents.feature_views for f in v.features]
    assert sorted(served) == sorted(f.name for f in load_feature_set().entity_features())


def test_repository_has_no_runnable_scripts() -> None:
    """No file of the repository has a __main__ block (feast apply imports them all)."""
    for path in REPO.glob("*.py"):
        assert "__main__" not in path.read_text(encoding="utf-8"), path.name
