"""The model card of ``GET /v1/model``: what is served, from where, how good, on what inputs."""

from pydantic import JsonValue

from features.definitions.model import FeatureSet
from serving.core.bundle import ServedModel
from serving.core.model import ModelSlot
from serving.core.scoring import DecisionService
from serving.responses import GradeBand, ModelCard, ModelFeature


def model_card(
    model: ServedModel,
    slot: ModelSlot,
    service: DecisionService,
    feature_set: FeatureSet,
    feature_service: str,
) -> ModelCard:
    """Describe ``model`` with the policy, reason texts and definitions it is served with."""
    bundle = model.bundle
    definitions = {f.name: f for f in feature_set.features}
    monotone: dict[str, int] = dict(bundle.features.get("monotone") or {})
    categorical = set(bundle.encoder.categorical)
    features = [
        ModelFeature(
            name=name,
            kind="categorical" if name in categorical else "numeric",
            group=service.source.group_of.get(name)
            or (definitions[name].group.value if name in definitions else None),
            description_zh=definitions[name].description_zh if name in definitions else None,
            description_en=definitions[name].description_en if name in definitions else None,
            monotone=int(monotone.get(name, 0)),
        )
        for name in model.feature_order
    ]
    score_link: dict[str, JsonValue] = {
        **model.link.as_json(),
        "formula": "logit = intercept + w_model * tree_margin + w_points * points",
    }
    return ModelCard(
        name=model.name,
        version=model.version,
        model_version=model.model_version,
        source=model.source,
        loaded_at=model.loaded_at,
        manifest_sha256=model.manifest_sha256,
        created_at=str(bundle.manifest.get("created_at")) or None,
        catalogue_version=service.catalogue,
        trained_catalogue_version=model.catalogue_version,
        policy_version=service.policy.policy_version,
        reasons_version=service.writer.texts.reasons_version,
        feature_service=feature_service,
        metrics=dict(bundle.metrics),
        score_link=score_link,
        points_column=model.points_column,
        features=features,
        master_scale=[
            GradeBand(grade=g, pd_lower=lo, pd_upper=hi) for g, lo, hi in bundle.scale.bounds()
        ],
        scale_version=bundle.scale.scale_version,
        cached_versions=slot.cached_versions(),
        fallback=slot.fallback if slot.model is model else None,
    )
