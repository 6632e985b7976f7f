"""Connections dealt to the workers of one server in turn, so that each gets its share.

With one ``SO_REUSEPORT`` socket per worker the kernel picks a worker per connection by a
hash of its addresses: measured with 4 keep-alive connections, all 4 went to one worker
twice in a row (its CPU 100 %, the other's 0 %), and 32 connections split 62/38 and 37/63.
A bank's loan system keeps a few long-lived connections, so a split like that holds for
hours: one worker queues while the other idles. Here the server process accepts every
connection and hands it to the next worker in turn (``SCM_RIGHTS`` over a socket pair,
one per worker); the worker wraps it in uvicorn's own HTTP protocol, exactly as if it had
accepted it. The kernel no longer chooses, so N connections are split as evenly as N
allows.

What a worker is handed it serves to the end: a worker that is shutting down still
answers the connections it holds (uvicorn's graceful shutdown), and gets no new ones.

The same channels carry the reloads of the model, so that one reload reaches every worker
(``serving.control``): the server process coordinates them, and a worker's messages that
carry no descriptor are handed to its ``WorkerControl``.

``DealtServer`` builds the protocol as ``uvicorn.Server.startup`` does, from
``config.http_protocol_class``, ``server_state`` and ``lifespan.state``: attributes, not a
documented API (uvicorn 0.54, locked in ``uv.lock``). ``tests/serving/test_crash.py``
serves dealt connections end to end, so an upgrade that changes them fails there.
"""

import asyncio
import contextlib
import logging
import socket
import threading
from typing import Any, Final

import uvicorn

from serving.control import MESSAGE_MAX, Coordinator, attach_worker_control

log = logging.getLogger(__name__)

HAND_OVER_S: Final = 1.0
"""How long a worker may leave its channel full before its turn goes to the next one."""
CONNECTION: Final = b"c"
"""The message that carries a connection's descriptor."""


class Dealer:
    """Accepts on the server's listening socket and deals each connection to a worker.

    Args:
        listener: the bound, listening TCP socket (the server's only one).
        channels: the server's end of one ``SOCK_SEQPACKET`` socket pair per worker.

    """

    def __init__(self, listener: socket.socket, channels: list[socket.socket]) -> None:
        self._listener = listener
        self._channels = channels
        for channel in channels:  # a wedged worker must not stop the dealing: skip it
            channel.settimeout(HAND_OVER_S)
        self._stop = threading.Event()
        self.dealt = [0] * len(channels)
        """Connections handed to each worker so far."""
        self._thread = threading.Thread(target=self._run, name="jifen-dealer", daemon=True)
        self.coordinator = Coordinator(channels, self._stop)
        """Runs the reloads the workers ask for, across every worker."""

    def start(self) -> None:
        """Start dealing (connections wait in the listen backlog until then) and coordinating."""
        self._listener.settimeout(0.2)  # so that ``stop`` is seen within that
        self._thread.start()
        self.coordinator.start()

    def stop(self) -> None:
        """Stop accepting; connections already dealt stay with their workers."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
            log.info(
                "stopped dealing: %s connections to the workers", "/".join(map(str, self.dealt))
            )
        self.coordinator.join()
        self._listener.close()

    def _run(self) -> None:
        turn = 0
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if not self._stop.is_set():
                    log.error("cannot accept connections: %s", exc)
                return
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                turn = self._deal(conn, turn)

    def _deal(self, conn: socket.socket, turn: int) -> int:
        """Hand ``conn`` to the next worker that takes it; return the turn after it."""
        for attempt in range(len(self._channels)):
            worker = (turn + attempt) % len(self._channels)
            try:
                socket.send_fds(self._channels[worker], [CONNECTION], [conn.fileno()])
            except OSError as exc:  # that worker is gone, or wedged past HAND_OVER_S
                log.warning("worker %d did not take a connection: %s", worker, exc)
                continue
            self.dealt[worker] += 1
            return worker + 1
        log.error("no worker took a connection; it is closed")
        return turn


class DealtServer(uvicorn.Server):
    """A uvicorn server that serves the connections its ``channel`` hands it.

    It opens no socket of its own: ``startup`` runs the app's lifespan as uvicorn does, then
    reads connections from the channel and gives each to uvicorn's configured HTTP protocol,
    the same protocol (and server state, so the same graceful shutdown) that uvicorn uses
    for the connections it accepts.
    """

    def __init__(self, config: uvicorn.Config, channel: socket.socket) -> None:
        super().__init__(config)
        self._channel = channel
        self._handing: set[asyncio.Task[None]] = set()
        # The app finds it at start-up (``worker_control``): one dealt server per process.
        self.control = attach_worker_control(channel)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Run the lifespan, then take connections from the channel."""
        await super().startup(sockets=[])
        self._channel.setblocking(False)
        asyncio.get_running_loop().add_reader(self._channel.fileno(), self._take)

    def _protocol(self) -> Any:
        config = self.config
        return config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=self.server_state, app_state=self.lifespan.state
        )

    def _take(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(self._channel, MESSAGE_MAX, 16)
            except BlockingIOError:
                return
            except OSError as exc:
                log.error("connection channel failed: %s; shutting down", exc)
                message, fds = b"", []
            if not message and not fds:  # the server process is gone: nobody deals to us
                loop.remove_reader(self._channel.fileno())
                self.should_exit = True
                return
            if not fds:
                self.control.deliver(message)
                continue
            for fd in fds:
                conn = socket.socket(fileno=fd)
                conn.setblocking(False)
                task = loop.create_task(self._serve_connection(conn))
                self._handing.add(task)  # the loop keeps only a weak reference
                task.add_done_callback(self._handing.discard)

    async def _serve_connection(self, conn: socket.socket) -> None:
        try:
            await asyncio.get_running_loop().connect_accepted_socket(self._protocol, conn)
        except OSError as exc:  # the client left before it was served
            log.debug("handed connection closed at once: %s", exc)
            conn.close()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Take no more connections, then shut down as uvicorn does."""
        with contextlib.suppress(ValueError, OSError):  # the channel may be gone already
            asyncio.get_running_loop().remove_reader(self._channel.fileno())
        self._channel.close()
        await super().shutdown(sockets)
