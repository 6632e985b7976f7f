"""What the app holds while it runs: settings, store, key ring, model slot, metrics."""

import logging
from dataclasses import dataclass

from serving.core.config import ServingSettings
from serving.core.db import Store, open_store
from serving.core.metrics import Metrics
from serving.core.model import ModelSlot, load_model
from serving.core.security import KeyRing
from serving.schemas import Readiness

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Long-lived dependencies of the routes, opened in the app lifespan."""

    settings: ServingSettings
    store: Store
    keys: KeyRing
    model: ModelSlot
    metrics: Metrics

    def readiness(self) -> Readiness:
        """Check every dependency a score needs; name the ones that fail."""
        model = "ok" if self.model.model is not None else self.model.problem or "no model loaded"
        checks = {"audit_store": self.store.check_writable() or "ok", "model": model}
        return Readiness(ready=all(v == "ok" for v in checks.values()), checks=checks)

    def close(self) -> None:
        """Release the store's connections."""
        self.store.close()


def open_services(settings: ServingSettings, metrics: Metrics) -> Services:
    """Open the store and key ring, seed demo keys if allowed, and try to load the model."""
    store = open_store(
        settings.audit_target,
        timeout_s=settings.db_timeout_s,
        pool_size=settings.pg_pool_size,
    )
    keys = KeyRing(store, allow_demo=settings.demo_keys)
    if settings.demo_keys:
        keys.ensure_demo_keys()
        log.warning("demo API keys are on: anyone who read the source can call this service")
    model = load_model(settings)
    log.info("serving with audit log in %s; model: %s", store.description, model.problem or "ok")
    return Services(settings, store, keys, model, metrics)
