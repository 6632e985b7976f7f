"""Reloads of the served model, in one process or across every worker of a server.

``POST /v1/admin/reload`` asks a ``Reloader``:

- ``LocalReloader``: the process serves alone (``jifen serve`` with one worker, tests);
  the slot loads, checks and swaps the bundle.
- ``ClusterReloader``: the process is one of several workers (``serving.dealer``). The
  version is resolved here, once, so that every worker loads the same ``name/version``
  (two workers resolving "the newest" apart could pick two versions). The server process
  then has every worker stage it and, only when all have, swap it in; the ``command`` here
  carries out those steps on this worker's slot.

Either way the answer names what each worker serves. A request takes the model once
(``ModelSlot.require``), so it is scored by one model from start to end.
"""

import logging
import os
from dataclasses import dataclass
from typing import Final, Protocol

from anyio import to_thread

from serving.control import Message, WorkerControl
from serving.core.bundle import ServedModel
from serving.core.model import ModelSlot
from serving.errors import (
    BundleRejectedError,
    ModelVersionNotFoundError,
    ReloadIncompleteError,
)

log = logging.getLogger(__name__)

ANSWER_MARGIN_S: Final = 10.0
"""Time the server process gets beyond its two steps' limits to answer a reload."""


@dataclass(frozen=True)
class WorkerVersion:
    """What one worker served before a reload and serves after it."""

    worker: int
    pid: int | None
    previous: str | None
    serving: str | None


@dataclass(frozen=True)
class ReloadReport:
    """The outcome of a reload: the version now served, and each worker's."""

    previous: str | None
    """What the worker that took the request served before."""
    current: str
    workers: list[WorkerVersion]

    @property
    def changed(self) -> bool:
        """Whether any worker now serves another version than before."""
        return any(w.serving != w.previous for w in self.workers)


class Reloader(Protocol):
    """Loads a bundle version and swaps it in wherever this service serves."""

    async def reload(self, version: str | None) -> ReloadReport:
        """Swap in ``version`` (the settings' choice when None) everywhere, or nowhere.

        Raises:
            ModelVersionNotFoundError: no such version.
            BundleRejectedError: the bundle failed a check; the old model serves on.
            ReloadIncompleteError: not every worker answered in time.

        """
        ...


class LocalReloader:
    """Reloads the model of a process that serves alone."""

    def __init__(self, slot: ModelSlot) -> None:
        self._slot = slot

    async def reload(self, version: str | None) -> ReloadReport:
        """Load, check and swap in ``version`` here (loading runs off the event loop)."""
        previous, model = await to_thread.run_sync(self._slot.reload, version)
        mine = WorkerVersion(0, os.getpid(), previous, model.model_version)
        return ReloadReport(previous, model.model_version, [mine])


_ERRORS: Final[dict[str, type[BundleRejectedError | ModelVersionNotFoundError]]] = {
    "rejected": BundleRejectedError,
    "not_found": ModelVersionNotFoundError,
}
"""A worker's refusal, as the error it raises here (anything else: incomplete)."""


class ClusterReloader:
    """Reloads every worker of a server through its server process (see the module notes).

    Args:
        slot: this worker's model slot.
        control: this worker's conversation with the server process.
        timeout_s: how long each step (load everywhere, swap everywhere) may take.

    """

    def __init__(self, slot: ModelSlot, control: WorkerControl, timeout_s: float) -> None:
        self._slot = slot
        self._control = control
        self._timeout_s = timeout_s
        self._staged: dict[str, ServedModel] = {}
        self._loading: set[str] = set()
        self._dropped: set[str] = set()
        control.command = self.command

    async def reload(self, version: str | None) -> ReloadReport:
        """Resolve ``version`` here, then have the server swap it in on every worker."""
        model_version = await to_thread.run_sync(self._slot.resolve, version)
        previous = self._slot.model.model_version if self._slot.model else None
        try:
            answer = await self._control.ask(
                {"kind": "reload", "model_version": model_version, "timeout_s": self._timeout_s},
                2 * self._timeout_s + ANSWER_MARGIN_S,
            )
        except (TimeoutError, OSError) as exc:
            raise ReloadIncompleteError(
                f"the server process did not answer the reload to {model_version}: "
                f"{exc or type(exc).__name__}"
            ) from exc
        if not answer.get("ok"):
            error = _ERRORS.get(str(answer.get("error_kind")), ReloadIncompleteError)
            raise error(str(answer.get("error")))
        workers = [
            WorkerVersion(int(w["worker"]), w.get("pid"), w.get("previous"), w.get("serving"))
            for w in answer["workers"]
        ]
        return ReloadReport(previous, model_version, workers)

    async def command(self, message: Message) -> Message:
        """Carry out one step the server asks of this worker: stage, swap or drop."""
        kind, reload_id = message.get("kind"), str(message.get("id"))
        if kind == "stage":
            return await self._stage(reload_id, str(message.get("model_version")))
        if kind == "swap":
            model = self._staged.pop(reload_id, None)
            if model is None:
                return {"ok": False, "error_kind": "incomplete", "error": "nothing staged"}
            previous = self._slot.swap(model)
            return {"ok": True, "previous": previous, "serving": model.model_version}
        if kind == "drop":
            if reload_id in self._loading:  # dropped when it is loaded
                self._dropped.add(reload_id)
            self._staged.pop(reload_id, None)
            return {"ok": True}
        return {"ok": False, "error_kind": "incomplete", "error": f"unknown step {kind!r}"}

    async def _stage(self, reload_id: str, model_version: str) -> Message:
        self._loading.add(reload_id)
        try:
            model = await to_thread.run_sync(self._slot.stage, model_version)
        except BundleRejectedError as exc:
            return {"ok": False, "error_kind": "rejected", "error": str(exc)}
        except ModelVersionNotFoundError as exc:
            return {"ok": False, "error_kind": "not_found", "error": str(exc)}
        finally:
            self._loading.discard(reload_id)
        if reload_id in self._dropped:  # dropped while it loaded (another worker was late)
            self._dropped.discard(reload_id)
            return {"ok": False, "error_kind": "incomplete", "error": "dropped while loading"}
        self._staged[reload_id] = model
        log.info("staged %s for reload %s", model_version, reload_id)
        return {"ok": True}
