"""Reloads across the workers of one server, over the channels the dealer holds.

One reload must reach every worker: the worker that took ``POST /v1/admin/reload`` asks
its server process, which runs it in two steps over every worker's channel
(``Coordinator``). First every worker loads and checks the bundle aside (``stage``); only
when every one has it does each swap it in (``swap``); if any refuses it, or does not
answer in time, every one drops it (``drop``) and the old model serves on everywhere. The
answer names what each worker serves. The messages are small JSON objects, one datagram
each, never carrying a descriptor (those are the dealer's connections); the worker's side
of the conversation is ``WorkerControl``, fed by ``serving.dealer.DealtServer``.

It imports nothing heavy: the server process runs it beside the dealer.
"""

import asyncio
import json
import logging
import os
import queue
import selectors
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

log = logging.getLogger(__name__)

MESSAGE_MAX: Final = 16 * 1024
"""Largest control message (a reload's answer names each worker's version: far less)."""
DEFAULT_RELOAD_S: Final = 120.0
"""How long workers may take to load a bundle when the request names no limit."""

Message = dict[str, Any]
"""A control message: ``kind``, ``id`` (of the reload) and the kind's own fields."""
_DONE: Final = {"stage": "staged", "swap": "swapped", "drop": "dropped"}
"""The kind of a worker's answer to each step."""


def _encode(message: Message) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode("utf-8")


class _Answers:
    """The workers' answers to one step of a reload, as they arrive."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._by_step: dict[tuple[str, str], dict[int, Message]] = {}
        self._open: set[str] = set()

    def open(self, reload_id: str) -> None:
        """Take answers about ``reload_id`` from now on."""
        with self._lock:
            self._open.add(reload_id)

    def close(self, reload_id: str) -> None:
        """Forget ``reload_id``: later answers about it are dropped."""
        with self._lock:
            self._open.discard(reload_id)
            for step in [s for s in self._by_step if s[0] == reload_id]:
                del self._by_step[step]

    def put(self, worker: int, message: Message) -> None:
        """Keep a worker's answer if its reload is still running."""
        with self._lock:
            reload_id = str(message.get("id"))
            if reload_id not in self._open:
                return
            self._by_step.setdefault((reload_id, str(message.get("kind"))), {})[worker] = message
            self._lock.notify_all()

    def wait(
        self, reload_id: str, kind: str, workers: set[int], deadline: float
    ) -> dict[int, Message]:
        """Return the answers of ``workers`` that came before ``deadline`` (and forget them)."""
        step = (reload_id, kind)
        with self._lock:
            while not workers <= self._by_step.get(step, {}).keys():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(min(left, 0.2))
            return self._by_step.pop(step, {})


class Coordinator:
    """The server process's side of reloads: every worker swaps to a bundle, or none does.

    One thread reads the workers' messages; another runs the reloads they ask for, one at a
    time, in the order asked: stage on every worker, then swap on every worker if all
    staged it, else drop it everywhere. The answer goes back to the worker that asked.

    Args:
        channels: the server's end of each worker's channel (shared with the ``Dealer``).
        stop: set when the server stops.

    """

    def __init__(self, channels: list[socket.socket], stop: threading.Event) -> None:
        self._channels = channels
        self._stop = stop
        self._answers = _Answers()
        self._asked: queue.Queue[tuple[int, Message]] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._read, name="jifen-control-read", daemon=True),
            threading.Thread(target=self._run, name="jifen-control-reload", daemon=True),
        ]

    def start(self) -> None:
        """Start reading the workers' messages and running their reloads."""
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        """Wait (briefly) for the threads to see the stop."""
        for thread in self._threads:
            if thread.is_alive():
                thread.join(timeout=2)

    def _read(self) -> None:
        with selectors.DefaultSelector() as selector:
            for worker, channel in enumerate(self._channels):
                selector.register(channel, selectors.EVENT_READ, worker)
            while not self._stop.is_set() and selector.get_map():
                for key, _ in selector.select(timeout=0.2):
                    self._receive(selector, key.fileobj, key.data)  # type: ignore[arg-type]

    def _receive(
        self, selector: selectors.BaseSelector, channel: socket.socket, worker: int
    ) -> None:
        try:
            data = channel.recv(MESSAGE_MAX)
        except (BlockingIOError, TimeoutError):
            return
        except OSError as exc:
            data = b""
            log.warning("worker %d's channel failed: %s", worker, exc)
        if not data:  # the worker is gone; run_workers stops the server
            selector.unregister(channel)
            return
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            log.error("worker %d sent a message that is not a JSON object; ignored", worker)
            return
        if message.get("kind") == "reload":
            self._asked.put((worker, message))
        else:
            self._answers.put(worker, message)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worker, asked = self._asked.get(timeout=0.2)
            except queue.Empty:
                continue
            reload_id = str(asked.get("id"))
            self._answers.open(reload_id)
            try:
                answer = self.reload(worker, asked)
            except (KeyError, TypeError, ValueError) as exc:  # a malformed request
                answer = {
                    "kind": "reloaded",
                    "id": reload_id,
                    "ok": False,
                    "error_kind": "incomplete",
                    "error": f"malformed reload request: {exc}",
                }
            finally:
                self._answers.close(reload_id)
            self._send(worker, answer)

    def _send(self, worker: int, message: Message) -> bool:
        try:
            self._channels[worker].send(_encode(message))
        except OSError as exc:
            log.warning("worker %d did not take a %s message: %s", worker, message["kind"], exc)
            return False
        return True

    def _everyone(self, message: Message) -> set[int]:
        """Send ``message`` to every worker; return the ones that took it."""
        return {w for w in range(len(self._channels)) if self._send(w, message)}

    def reload(self, origin: int, asked: Message) -> Message:
        """Run the reload worker ``origin`` asked for; return the answer it gets."""
        reload_id, model_version = str(asked["id"]), str(asked["model_version"])
        limit = float(asked.get("timeout_s") or DEFAULT_RELOAD_S)
        workers = set(range(len(self._channels)))
        log.info("worker %d asked every worker to load %s", origin, model_version)
        staged_by = self._everyone(
            {"kind": "stage", "id": reload_id, "model_version": model_version}
        )
        staged = self._answers.wait(reload_id, "staged", staged_by, time.monotonic() + limit)
        refused = {w: m for w, m in staged.items() if not m.get("ok")}
        silent = sorted(workers - {w for w, m in staged.items() if m.get("ok")} - set(refused))
        if refused or silent:
            self._everyone({"kind": "drop", "id": reload_id})
            return _not_reloaded(reload_id, model_version, refused, silent, limit)
        swapped_by = self._everyone({"kind": "swap", "id": reload_id})
        swapped = self._answers.wait(reload_id, "swapped", swapped_by, time.monotonic() + limit)
        report = [
            {"worker": w, **{k: swapped[w].get(k) for k in ("pid", "previous", "serving")}}
            if w in swapped
            else {"worker": w, "pid": staged[w].get("pid"), "previous": None, "serving": None}
            for w in sorted(workers)
        ]
        unconfirmed = [r["worker"] for r in report if r["serving"] != model_version]
        answer: Message = {"kind": "reloaded", "id": reload_id, "workers": report}
        if unconfirmed:
            log.error("workers %s did not confirm they serve %s", unconfirmed, model_version)
            return answer | {
                "ok": False,
                "error_kind": "incomplete",
                "error": f"workers {unconfirmed} did not confirm within {limit:g} s that they "
                f"serve {model_version}; the others do",
            }
        log.info("every worker serves %s", model_version)
        return answer | {"ok": True}


def _not_reloaded(
    reload_id: str, model_version: str, refused: dict[int, Message], silent: list[int], limit: float
) -> Message:
    """Answer a reload that no worker swapped in: why, in the first refusing worker's words."""
    if refused:
        worker, first = min(refused.items())
        kind, why = str(first.get("error_kind") or "rejected"), str(first.get("error"))
        text = f"worker {worker} (pid {first.get('pid')}) could not load {model_version}: {why}"
    else:
        kind = "incomplete"
        text = f"workers {silent} did not load {model_version} within {limit:g} s"
    return {
        "kind": "reloaded",
        "id": reload_id,
        "ok": False,
        "error_kind": kind,
        "error": f"{text}; no worker switched, the old model serves on",
    }


Command = Callable[[Message], Awaitable[Message]]
"""Carries out one step of a reload on this worker and returns its answer."""


class WorkerControl:
    """A worker's end of the control conversation with its server process.

    ``ask`` sends a request (a reload) and waits for the server's answer; the server's own
    steps (stage, swap, drop) go to ``command``, set by whoever holds the model (the app),
    and its answer goes back. It lives on the worker's event loop.
    """

    def __init__(self, channel: socket.socket) -> None:
        self._channel = channel
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._running: set[asyncio.Task[None]] = set()
        self.command: Command | None = None

    async def ask(self, message: Message, timeout_s: float) -> Message:
        """Send ``message`` (its ``id`` is set here) and return the server's answer to it.

        Raises:
            TimeoutError: no answer within ``timeout_s``.
            OSError: the server process is gone.

        """
        loop = asyncio.get_running_loop()
        message = {**message, "id": uuid.uuid4().hex}
        answer = self._waiting[message["id"]] = loop.create_future()
        try:
            await loop.sock_sendall(self._channel, _encode(message))
            return await asyncio.wait_for(answer, timeout_s)
        finally:
            self._waiting.pop(message["id"], None)

    def deliver(self, data: bytes) -> None:
        """Take one message from the server: an answer to ``ask``, or a step to carry out."""
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            log.error("the server sent a control message that is not a JSON object; ignored")
            return
        waiting = self._waiting.get(str(message.get("id")))
        if waiting is not None and message.get("kind") == "reloaded":
            if not waiting.done():
                waiting.set_result(message)
            return
        task = asyncio.get_running_loop().create_task(self._carry_out(message))
        self._running.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._running.discard)

    async def _carry_out(self, message: Message) -> None:
        if self.command is None:
            answer: Message = {"ok": False, "error_kind": "incomplete", "error": "not started"}
        else:
            answer = await self.command(message)
        kind = _DONE.get(str(message.get("kind")), "unknown")
        reply = {**answer, "kind": kind, "id": message.get("id"), "pid": os.getpid()}
        try:
            await asyncio.get_running_loop().sock_sendall(self._channel, _encode(reply))
        except OSError as exc:
            log.error("cannot answer the server's %s: %s", message.get("kind"), exc)


_control: WorkerControl | None = None


def attach_worker_control(channel: socket.socket) -> WorkerControl:
    """Make this process a dealt worker whose server talks to it over ``channel``."""
    global _control
    _control = WorkerControl(channel)
    return _control


def worker_control() -> WorkerControl | None:
    """Return this process's control conversation with its server (None: not a dealt worker)."""
    return _control
