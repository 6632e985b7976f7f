"""The model seam: where bundles come from, which one is served, and atomic reloads.

Two sources, chosen by the settings:

- ``BundleDirSource``: ``bundle_dir/<name>/<version>/`` as ``jifen train`` writes it; the
  newest version (versions start with a UTC timestamp) or the pinned ``bundle_version``.
- ``MlflowSource``: the registry version behind ``model_alias`` (``champion``); its run's
  ``bundle`` artifacts are downloaded once into ``data_dir/serving/bundles/<name>/<version>``
  and loaded from there like any bundle, checksums included.

``ModelSlot`` holds the served model. A reload loads and checks the new bundle aside
(``stage``) and then swaps one reference (``swap``): a request takes the model once, so it
is scored entirely by the old model or entirely by the new one, and a bundle that fails
its checks is refused while the old one keeps serving. With several worker processes the
two steps are run on every worker by ``serving.dealer`` (all swap, or none). Recently used
versions stay loaded so that replays of older decisions need no reload.

At start-up a newest bundle that fails its checks is not the end of serving: the slot
falls back to the newest older bundle that passes them, and says so (``fallback``, in the
log and in ``GET /v1/model``). A pinned version or a registry alias gets no fallback: the
operator chose that one bundle.
"""

import json
import logging
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from serving.core.bundle import ServedModel
from serving.core.config import ServingSettings
from serving.errors import BundleRejectedError, ModelNotReadyError, ModelVersionNotFoundError

log = logging.getLogger(__name__)


class ScoringModel(Protocol):
    """What audit records need to name a model."""

    @property
    def model_version(self) -> str:
        """Registry name and version of the model, as written into audit records."""
        ...

    @property
    def catalogue_version(self) -> str:
        """Indicator catalogue version the points side was computed with."""
        ...


class ModelSource(Protocol):
    """Where bundle folders come from."""

    description: str

    def resolve(self, version: str | None) -> Path:
        """Folder of ``version``, or of the version the settings choose when None."""
        ...

    def locate(self, model_version: str) -> Path:
        """Folder of a ``name/version`` recorded in an audit record."""
        ...

    def fallbacks(self) -> list[str]:
        """``name/version`` of the bundles to try, newest first, when the chosen one is refused."""
        ...


def model_version_of(path: Path) -> str:
    """``name/version`` of a bundle folder (``<...>/<name>/<version>``)."""
    return f"{path.parent.name}/{path.name}"


def _versions(folder: Path) -> list[str]:
    # Hidden folders are bundles being written (``.<version>.partial``).
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _split(model_version: str) -> tuple[str, str]:
    name, _, version = model_version.partition("/")
    if not name or not version or "/" in version or ".." in model_version:
        raise ModelVersionNotFoundError(f"model version {model_version!r} is not name/version")
    return name, version


class BundleDirSource:
    """Bundles under a folder: ``<bundle_dir>/<name>/<version>/``."""

    def __init__(self, bundle_dir: Path, name: str | None, pinned: str | None) -> None:
        self.bundle_dir = bundle_dir
        self.pinned = pinned
        self._name = name
        self.description = f"bundle folder {bundle_dir}"

    def name(self) -> str:
        """Return the configured model name, or the only one under the folder."""
        if self._name is not None:
            return self._name
        names = _versions(self.bundle_dir)
        if not names:
            raise ModelVersionNotFoundError(
                f"no model bundle under {self.bundle_dir}; train one with `jifen train` or set "
                "JIFEN_BUNDLE_DIR"
            )
        if len(names) != 1:
            raise ModelVersionNotFoundError(
                f"{self.bundle_dir} holds {len(names)} models {names[:5]}; set "
                "JIFEN_MODEL_NAME to choose one"
            )
        return names[0]

    def resolve(self, version: str | None) -> Path:
        """Return the folder of the requested, pinned or newest version of the model."""
        name = self.name()
        chosen = version or self.pinned
        if chosen is None:
            versions = _versions(self.bundle_dir / name)
            if not versions:
                raise ModelVersionNotFoundError(f"no bundle of {name!r} under {self.bundle_dir}")
            chosen = versions[-1]
        return self.locate(f"{name}/{chosen}")

    def locate(self, model_version: str) -> Path:
        """Return the folder of ``name/version``."""
        name, version = _split(model_version)
        path = self.bundle_dir / name / version
        if not path.is_dir():
            raise ModelVersionNotFoundError(f"bundle {model_version} is not in {self.bundle_dir}")
        return path

    def fallbacks(self) -> list[str]:
        """Every version but the newest, newest first; none when a version is pinned."""
        if self.pinned is not None:
            return []
        name = self.name()
        return [f"{name}/{v}" for v in reversed(_versions(self.bundle_dir / name)[:-1])]


class MlflowSource:
    """The registry version behind an alias, its bundle cached on local disk."""

    def __init__(self, uri: str, name: str | None, alias: str, cache_dir: Path) -> None:
        self.uri = uri
        self.alias = alias
        self.cache_dir = cache_dir
        self._name = name
        self.description = f"MLflow registry {uri} alias {alias!r}"

    def _client(self) -> object:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def name(self) -> str:
        """Return the configured model name, or the registry's only model."""
        if self._name is not None:
            return self._name
        client = self._client()
        names = sorted(str(m.name) for m in client.search_registered_models())  # type: ignore[attr-defined]
        if len(names) != 1:
            raise ModelVersionNotFoundError(
                f"the registry at {self.uri} holds {len(names)} models; set JIFEN_MODEL_NAME"
            )
        return names[0]

    def resolve(self, version: str | None) -> Path:
        """Download (once) the bundle of the alias' version, or of a named bundle version."""
        from mlflow.exceptions import MlflowException

        name, client = self.name(), self._client()
        try:
            if version is None:
                found = client.get_model_version_by_alias(name, self.alias)  # type: ignore[attr-defined]
            else:
                found = self._by_bundle_version(name, version)
        except MlflowException as exc:
            raise ModelVersionNotFoundError(
                f"{self.description}: model {name!r} has no version for "
                f"{version or self.alias!r}: {exc.message}"
            ) from exc
        bundle_version = str((found.tags or {}).get("bundle_version") or "")
        cached = self.cache_dir / name / bundle_version
        if bundle_version and cached.is_dir():
            return cached
        return self._download(name, str(found.run_id))

    def _by_bundle_version(self, name: str, version: str) -> object:
        from mlflow.exceptions import MlflowException

        client = self._client()
        for found in client.search_model_versions(f"name = '{name}'"):  # type: ignore[attr-defined]
            if (found.tags or {}).get("bundle_version") == version:
                return found
        raise MlflowException(f"no registered version carries bundle_version={version}")

    def _download(self, name: str, run_id: str) -> Path:
        import mlflow

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache_dir) as tmp:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path="bundle", dst_path=tmp, tracking_uri=self.uri
                )
            )
            try:
                version = str(json.loads((local / "manifest.json").read_text())["version"])
            except (OSError, ValueError, KeyError) as exc:
                raise BundleRejectedError(
                    f"run {run_id} has no readable bundle manifest: {exc}"
                ) from exc
            target = self.cache_dir / name / version
            if not target.is_dir():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(local), target)
        return target

    def locate(self, model_version: str) -> Path:
        """Return the cached folder of ``name/version``, downloading it if needed."""
        name, version = _split(model_version)
        cached = self.cache_dir / name / version
        return cached if cached.is_dir() else self.resolve(version)

    def fallbacks(self) -> list[str]:
        """None: the alias names the one version the registry wants served."""
        return []


class ModelSlot:
    """The served model (or why there is none) and recently loaded versions."""

    def __init__(
        self,
        source: ModelSource | None,
        cache_size: int,
        problem: str | None,
        check: Callable[[ServedModel], None] | None = None,
    ) -> None:
        self.source = source
        self._check = check
        self._current: ServedModel | None = None
        self.problem = problem
        self.fallback: str | None = None
        """Why the served bundle is an older one than the settings choose (None: it is not)."""
        self._cache: OrderedDict[str, ServedModel] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def model(self) -> ServedModel | None:
        """The served model, or None."""
        return self._current

    def require(self) -> ServedModel:
        """Return the served model; ModelNotReadyError with the reason if none is loaded."""
        current = self._current
        if current is None:
            raise ModelNotReadyError(f"no model loaded: {self.problem or 'unknown reason'}")
        return current

    def cached_versions(self) -> list[str]:
        """Versions kept loaded, least recently used first."""
        return list(self._cache)

    def _remember(self, model: ServedModel) -> None:
        self._cache[model.model_version] = model
        self._cache.move_to_end(model.model_version)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def load_path(self, path: Path) -> ServedModel:
        """Load a bundle folder directly (``jifen score --bundle``), with every check."""
        return self._load(path)

    def _load(self, path: Path) -> ServedModel:
        source = self.source.description if self.source else "bundle"
        model = ServedModel.load(path, f"{source}: {path}")
        if self._check is not None:
            self._check(model)
        return model

    def _source(self) -> ModelSource:
        if self.source is None:
            raise ModelNotReadyError(f"no model source: {self.problem or 'not configured'}")
        return self.source

    def resolve(self, version: str | None = None) -> str:
        """Return the ``name/version`` a reload to ``version`` (or the settings' choice) loads.

        Raises:
            ModelVersionNotFoundError: no such version.

        """
        return model_version_of(self._source().resolve(version))

    def stage(self, model_version: str) -> ServedModel:
        """Load and check ``model_version`` from its files, aside: nothing is served yet.

        Raises:
            ModelVersionNotFoundError: no such version.
            BundleRejectedError: the bundle failed a check.

        """
        return self._load(self._source().locate(model_version))

    def swap(self, model: ServedModel) -> str | None:
        """Serve ``model`` from now on (one reference swap); return the previous version."""
        with self._lock:
            previous = self._current.model_version if self._current else None
            self._current = model  # requests that already took the old model keep it
            self.problem = None
            self.fallback = None
            self._remember(model)
        log.info("serving model %s (previously %s)", model.model_version, previous)
        return previous

    def reload(self, version: str | None = None) -> tuple[str | None, ServedModel]:
        """Load ``version`` (or the settings' choice), check it, then swap it in.

        Raises:
            ModelVersionNotFoundError: no such version.
            BundleRejectedError: the bundle failed a check; the old model keeps serving.

        """
        model = self._load(self._source().resolve(version))
        return self.swap(model), model

    def start(self) -> None:
        """Serve the settings' choice, or the newest older bundle that passes its checks.

        Raises:
            ModelVersionNotFoundError: there is no bundle at all.
            BundleRejectedError: the chosen bundle and every fallback were refused.

        """
        source = self._source()
        try:
            self.reload()
            return
        except BundleRejectedError as exc:
            refused = exc
        for candidate in source.fallbacks():
            try:
                model = self.stage(candidate)
            except (BundleRejectedError, ModelVersionNotFoundError) as exc:
                log.error("fallback bundle %s refused too: %s", candidate, exc)
                continue
            self.swap(model)
            self.fallback = (
                f"the newest bundle was refused ({refused}); serving {candidate}, the newest "
                "older bundle that passes its checks"
            )
            log.error("%s", self.fallback)
            return
        raise refused

    def version(self, model_version: str) -> ServedModel:
        """Return the model of an audit record's ``model_version``, loaded if needed.

        Raises:
            ModelVersionNotFoundError: the version is not available any more.
            BundleRejectedError: its bundle no longer passes its checks.

        """
        with self._lock:
            if model_version in self._cache:
                self._cache.move_to_end(model_version)
                return self._cache[model_version]
            if self.source is None:
                raise ModelVersionNotFoundError(f"model version {model_version} is not loaded")
            model = self._load(self.source.locate(model_version))
            self._remember(model)
            return model


def model_source(settings: ServingSettings) -> ModelSource:
    """Return the source the settings name: MLflow if a URI is set, else the folder."""
    if settings.mlflow_tracking_uri:
        return MlflowSource(
            settings.mlflow_tracking_uri,
            settings.model_name,
            settings.model_alias,
            settings.data_dir / "serving" / "bundles",
        )
    return BundleDirSource(settings.bundle_dir, settings.model_name, settings.bundle_version)


def load_model(
    settings: ServingSettings, check: Callable[[ServedModel], None] | None = None
) -> ModelSlot:
    """Build the slot and load the model the settings choose (see ``ModelSlot.start``).

    A failure leaves the slot empty, with the reason in ``problem``.

    ``check`` runs on every model before it is served (e.g. the policy covers its grades).
    """
    source = model_source(settings)
    slot = ModelSlot(source, settings.model_cache_size, None, check)
    try:
        slot.start()
    except (BundleRejectedError, ModelVersionNotFoundError) as exc:
        slot.problem = str(exc)
        log.error("no model loaded from %s: %s", source.description, exc)
    return slot
