"""The connection dealer: connections go to the workers in turn, and past a worker that is gone."""

import socket
from collections.abc import Iterator

import pytest

from serving.dealer import Dealer


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock
    sock.close()


def _connect(listener: socket.socket, n: int) -> list[socket.socket]:
    return [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(n)]


def _received(channel: socket.socket, n: int) -> list[socket.socket]:
    """The next ``n`` connections handed over ``channel``, as sockets."""
    channel.settimeout(5)
    out = []
    for _ in range(n):
        message, fds, _, _ = socket.recv_fds(channel, 16, 4)
        assert message == b"c" and len(fds) == 1
        out.append(socket.socket(fileno=fds[0]))
    return out


def test_connections_are_dealt_in_turn(listener: socket.socket) -> None:
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(2)]
    dealer = Dealer(listener, [ours for ours, _ in pairs])
    dealer.start()
    clients = _connect(listener, 4)
    try:
        got = [_received(theirs, 2) for _, theirs in pairs]
        dealer.stop()  # its thread is done: its counts are final
        assert dealer.dealt == [2, 2]
        # each handed socket is a live end of one of the clients' connections
        peers = {c.getsockname() for c in clients}
        assert {s.getpeername() for worker in got for s in worker} == peers
        for worker in got:
            for conn in worker:
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
                conn.sendall(b"hi")
        assert all(c.recv(2) == b"hi" for c in clients)
        for conn in got[0] + got[1]:
            conn.close()
    finally:
        dealer.stop()
        for sock in clients + [s for pair in pairs for s in pair]:
            sock.close()


def test_a_worker_that_is_gone_is_passed_over(listener: socket.socket) -> None:
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(2)]
    pairs[0][1].close()  # worker 0 died
    dealer = Dealer(listener, [ours for ours, _ in pairs])
    dealer.start()
    clients = _connect(listener, 3)
    try:
        handed = _received(pairs[1][1], 3)
        dealer.stop()
        for conn in handed:
            conn.close()
        assert dealer.dealt == [0, 3]
    finally:
        dealer.stop()
        for sock in [*clients, pairs[0][0], *pairs[1]]:
            sock.close()
