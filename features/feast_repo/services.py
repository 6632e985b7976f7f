"""Versioned feature services: what a model version reads, by name."""

from feast import FeatureService

from features.feast_repo.views import ENTERPRISE_VIEWS, FEATURE_SET

credit_risk_v1 = FeatureService(
    name="credit_risk_v1",
    features=list(ENTERPRISE_VIEWS),
    description="All enterprise features of feature set v1, for the credit-risk model.",
    tags={"feature_set_version": FEATURE_SET.feature_set_version},
)
