"""What the app holds while it runs: settings, stores, key ring, model slot, scoring, metrics."""

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Final

from features.definitions.model import Group, load_feature_set
from serving.config import load_config_file
from serving.core.anchor_publisher import AnchorPublisher, open_publisher
from serving.core.coalescer import ScoreCoalescer
from serving.core.committer import AuditCommitter
from serving.core.config import ServingSettings
from serving.core.db import Store, open_store
from serving.core.feature_store import FeastFeatureSource
from serving.core.features import FeatureSource, FirmVector
from serving.core.metrics import Metrics
from serving.core.model import ModelSlot, load_model
from serving.core.online_probe import FirmPresence
from serving.core.policy import load_policy
from serving.core.reasons import ReasonTexts, ReasonWriter
from serving.core.scoring import DecisionService
from serving.core.security import KeyRing
from serving.errors import FeatureStoreUnavailableError
from serving.schemas import Readiness

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S: Final = 0.5
"""How often a SQLite audit log's WAL is copied into the database, off the request path."""
MB: Final = 1024 * 1024


@dataclass
class UnavailableSource:
    """Stands in for a feature store that could not be opened: every read says why."""

    description: str
    problem: str
    group_of: dict[str, str] = field(default_factory=dict)
    local: bool = True
    """It answers at once, without I/O."""

    def read(
        self, credit_codes: Sequence[str], names: Collection[str] | None = None
    ) -> list[FirmVector | None]:
        """Refuse: no score is given without the store."""
        raise FeatureStoreUnavailableError(self.problem)

    def check(self) -> str | None:
        """Return the reason the store was not opened."""
        return self.problem


def open_feature_source(settings: ServingSettings) -> FeatureSource:
    """Open the Feast feature service, or a stand-in that reports why it could not."""
    try:
        return FeastFeatureSource(settings.feature_repo, settings.feature_service)
    except FeatureStoreUnavailableError as exc:
        log.error("feature store not available: %s", exc)
        return UnavailableSource(str(settings.feature_repo), str(exc))


@dataclass
class Services:
    """Long-lived dependencies of the routes, opened in the app lifespan."""

    settings: ServingSettings
    store: Store
    keys: KeyRing
    model: ModelSlot
    metrics: Metrics
    features: FeatureSource
    committer: AuditCommitter
    decisions: DecisionService
    coalescer: ScoreCoalescer
    """Single applications go through it (``POST /v1/score``), batches do not."""
    anchors: AnchorPublisher | None = None
    """Publishes the audit chain heads, signed, outside the log (None: anchors are off)."""
    firms: FirmPresence | None = None
    """Whether the online store holds any firm (None: the store could not be opened)."""

    def readiness(self) -> Readiness:
        """Check every dependency a score needs; name the ones that fail.

        Ready means a decision can be made and recorded now: the audit store takes writes
        (and its disk has room), a model is loaded, and the online store answers and holds
        firms (an empty one would answer every score with a 404).
        """
        model = "ok" if self.model.model is not None else self.model.problem or "no model loaded"
        features = self.features.check() or (self.firms.check() if self.firms else None)
        checks = {
            "audit_store": self.store.check_writable() or "ok",
            "model": model,
            "feature_store": features or "ok",
        }
        return Readiness(ready=all(v == "ok" for v in checks.values()), checks=checks)

    def close(self) -> None:
        """Commit queued audit records, anchor the heads they made, then release the store."""
        self.committer.close()
        if self.anchors is not None:
            self.anchors.close()
        self.store.close()


def open_services(settings: ServingSettings, metrics: Metrics) -> Services:
    """Open stores, key ring, policy and reason texts, then try to load the model."""
    store = open_store(
        settings.audit_target,
        timeout_s=settings.db_timeout_s,
        pool_size=settings.pg_pool_size,
        checkpoint_every_s=CHECKPOINT_EVERY_S,
        min_free_bytes=int(settings.audit_min_free_mb * MB),
    )
    # On SQLite this claims the process's lane now rather than at its first decision.
    problem = store.check_writable()
    if problem is not None:
        log.warning("the audit log does not take writes yet (see /ready): %s", problem)
    keys = KeyRing(store, allow_demo=settings.demo_keys, cache_s=settings.key_cache_s)
    if settings.demo_keys:
        keys.ensure_demo_keys()
        log.warning("demo API keys are on: anyone who read the source can call this service")
    feature_set = load_feature_set(settings.feature_set)
    policy = load_policy(settings.policy_path)
    texts = load_config_file(ReasonTexts, settings.reasons_path, "reasons.yaml")
    features = open_feature_source(settings)
    committer = AuditCommitter(
        store,
        max_group=settings.audit_group_max,
        wait_s=4 * settings.db_timeout_s + 1,
        metrics=metrics,
    )
    decisions = DecisionService(
        source=features,
        policy=policy,
        writer=ReasonWriter(texts, feature_set),
        committer=committer,
        metrics=metrics,
        per_direction=settings.reasons_per_direction,
        application_names=frozenset(f.name for f in feature_set.by_group(Group.APPLICATION)),
        catalogue=feature_set.rules.points.catalogue,
    )
    model = load_model(settings, check=decisions.check_model)
    log.info(
        "serving with audit log in %s; features: %s; model: %s",
        store.description,
        features.description,
        model.problem or model.require().model_version,
    )
    coalescer = ScoreCoalescer(decisions, metrics, settings.score_block_max)
    anchors = open_publisher(settings, store)
    if anchors is not None:
        anchors.start()
    firms = None if isinstance(features, UnavailableSource) else FirmPresence(settings.feature_repo)
    return Services(
        settings,
        store,
        keys,
        model,
        metrics,
        features,
        committer,
        decisions,
        coalescer,
        anchors,
        firms,
    )
