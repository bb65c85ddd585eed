"""svcnet.proxy.userspace._relay: the compiled TCP byte loop, on real loopback sockets.

Every session here is four sockets::

    client  <->  cfd [ Relay ] bfd  <->  backend

``client`` connects to a proxy listener on 127.0.0.1 and the accepted side is ``cfd``;
``bfd`` connects to a backend listener on 127.0.0.2 and the accepted side is ``backend``.
``cfd``/``bfd`` are made non-blocking and detached from their Python socket objects, then
handed to ``Relay.add`` (the relay owns and closes them).

The relay is driven like production does it (``loop.add_reader(relay.fileno(), run)``):
:class:`Driver` calls ``run()`` only when ``select`` says the epoll fd is readable, so a lost
wake-up shows up as a timeout. Peers that have to block (bulk transfers, a client that does
not read for a while) run in threads with socket timeouts, while the test thread drives the
relay; every wait is bounded by :data:`DEADLINE`.

Three tests pin bugs found while writing this file (urgent data in a stream switching to
splice, bytes queued ahead of a reset, an fd beyond any table): each failed before its fix.
"""

from __future__ import annotations

import errno
import gc
import hashlib
import os
import select
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import weakref

import pytest

_relay = pytest.importorskip(
    "svcnet.proxy.userspace._relay", reason="the compiled relay was not built (no C compiler or Python headers at install)"
)

DEADLINE = 10.0
PROXY_IP = "127.0.0.1"
BACKEND_IP = "127.0.0.2"
LINGER0 = struct.pack("ii", 1, 0)
MiB = 1 << 20

#: splice: 0 never, 1 auto (after a read fills a chunk), 2 always
SPLICE_MODES = pytest.mark.parametrize("mode", [0, 1, 2], ids=["copy", "auto", "splice"])


# ------------------------------------------------------------------------------- helpers


class Net:
    """A proxy listener (client side) and a backend listener, both on loopback."""

    def __init__(self) -> None:
        self.proxy = self._listen(PROXY_IP)
        self.backend = self._listen(BACKEND_IP)
        self.sockets: list[socket.socket] = []

    @staticmethod
    def _listen(ip: str) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((ip, 0))
        s.listen(512)
        s.settimeout(DEADLINE)
        return s

    def close(self) -> None:
        for s in [*self.sockets, self.proxy, self.backend]:
            s.close()


class Session:
    """The peers of one relayed session and what the relay was handed."""

    def __init__(self, client: socket.socket, backend: socket.socket, cfd: int, bfd: int, token: object) -> None:
        self.client = client
        self.backend = backend
        self.cfd = cfd
        self.bfd = bfd
        self.token = token
        # the inodes tell "closed" from "closed and the number reused by another socket"
        self.inodes = (os.fstat(cfd).st_ino, os.fstat(bfd).st_ino)

    def assert_fds_closed(self) -> None:
        for fd, ino in zip((self.cfd, self.bfd), self.inodes):
            assert_fd_closed(fd, ino)


def assert_fd_closed(fd: int, ino: int) -> None:
    try:
        st = os.fstat(fd)
    except OSError as e:
        assert e.errno == errno.EBADF
        return
    assert st.st_ino != ino, f"fd {fd} is still open"


def open_session(
    net: Net,
    token: object = None,
    *,
    threaded: bool = False,
    client_rcvbuf: int | None = None,
    cfd_sndbuf: int | None = None,
    bfd_rcvbuf: int | None = None,
    backend_sndbuf: int | None = None,
) -> Session:
    """Connect client -> proxy listener and relay side -> backend listener; cfd and bfd are
    non-blocking and detached (not added yet). Peers are non-blocking for the test thread,
    or blocking with a timeout when ``threaded``."""
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    net.sockets.append(client)
    if client_rcvbuf:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, client_rcvbuf)
    client.settimeout(DEADLINE)
    client.connect(net.proxy.getsockname())
    csock, _ = net.proxy.accept()
    bsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if bfd_rcvbuf:
        bsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, bfd_rcvbuf)
    bsock.settimeout(DEADLINE)
    bsock.connect(net.backend.getsockname())
    backend, _ = net.backend.accept()
    net.sockets.append(backend)
    if cfd_sndbuf:
        csock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, cfd_sndbuf)
    if backend_sndbuf:
        backend.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, backend_sndbuf)
    csock.setblocking(False)
    bsock.setblocking(False)
    for peer in (client, backend):
        if threaded:
            peer.settimeout(DEADLINE)
        else:
            peer.setblocking(False)
    return Session(client, backend, csock.detach(), bsock.detach(), token)


class Driver:
    """Runs the relay from the test thread: ``run()`` whenever its fd is readable."""

    def __init__(self, relay: _relay.Relay) -> None:
        self.relay = relay
        self.records: list[tuple] = []

    def take(self, recs: list | None) -> None:
        if recs is not None:
            self.records.extend(recs)

    def add(self, s: Session) -> None:
        self.take(self.relay.add(s.cfd, s.bfd, s.token))

    def step(self, timeout: float = 0.01) -> bool:
        """One turn of the event loop; True if the relay's fd was readable."""
        ready, _, _ = select.select([self.relay.fileno()], [], [], timeout)
        if ready:
            self.take(self.relay.run())
        return bool(ready)

    def until(self, cond, what: str, timeout: float = DEADLINE) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            self.step()

    def run_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.step()

    def recv_exactly(self, sock: socket.socket, n: int, timeout: float = DEADLINE) -> bytes:
        """``n`` bytes from a non-blocking peer, moving bytes meanwhile."""
        buf = bytearray()

        def got_all() -> bool:
            try:
                data = sock.recv(n - len(buf))
            except BlockingIOError:
                return False
            assert data, f"EOF after {len(buf)} of {n} bytes"
            buf.extend(data)
            return len(buf) == n

        self.until(got_all, f"{n} bytes", timeout)
        return bytes(buf)

    def expect_eof(self, sock: socket.socket) -> None:
        def eof() -> bool:
            try:
                data = sock.recv(4096)
            except BlockingIOError:
                return False
            assert not data, f"unexpected bytes before EOF: {data[:40]!r}"
            return True

        self.until(eof, "EOF")

    def expect_reset(self, sock: socket.socket) -> None:
        def reset() -> bool:
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                return False
            except ConnectionResetError:
                return True
            assert data, "EOF instead of a reset"
            return False  # bytes relayed before the reset: read on

        self.until(reset, "a reset")

    def finished(self, token: object) -> tuple:
        """The one end record of ``token``."""
        self.until(lambda: any(r[0] is token for r in self.records), "the session's end record")
        recs = [r for r in self.records if r[0] is token]
        assert len(recs) == 1, recs
        return recs[0]


class Peer(threading.Thread):
    """``fn(*args)`` in a thread; :meth:`result` returns its value or raises its error."""

    def __init__(self, fn, *args) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.fn = fn
        self.args = args
        self.value = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.value = self.fn(*self.args)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            self.error = e

    def result(self):  # type: ignore[no-untyped-def]
        self.join(DEADLINE)
        assert not self.is_alive(), "peer thread still running"
        if self.error is not None:
            raise self.error
        return self.value


def all_done(*peers: Peer):  # type: ignore[no-untyped-def]
    return lambda: not any(p.is_alive() for p in peers)


def send_all(sock: socket.socket, data: bytes, progress: list[int] | None = None, then: str = "shut") -> None:
    """Send ``data`` in 64 KiB pieces (``progress[0]``: bytes sent so far), then shut down
    writing ("shut"), close ("close") or nothing ("")."""
    view = memoryview(data)
    sent = 0
    while sent < len(data):
        sent += sock.send(view[sent : sent + 65536])
        if progress is not None:
            progress[0] = sent
    if then == "shut":
        sock.shutdown(socket.SHUT_WR)
    elif then == "close":
        sock.close()


def recv_to_eof(sock: socket.socket, delay: float = 0.0, on_start=None) -> tuple[int, str]:  # type: ignore
    """(bytes, sha256) of everything up to EOF, after sleeping ``delay`` seconds (then
    calling ``on_start``)."""
    time.sleep(delay)
    if on_start is not None:
        on_start()
    h = hashlib.sha256()
    n = 0
    while True:
        data = sock.recv(262144)
        if not data:
            return n, h.hexdigest()
        n += len(data)
        h.update(data)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pipe_fds() -> set[int]:
    out = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("pipe:"):
                out.add(int(name))
        except OSError:
            pass
    return out


class Token:
    """A session token that can be weak-referenced."""

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Token({self.name!r})"


@pytest.fixture
def net():  # type: ignore[no-untyped-def]
    n = Net()
    yield n
    n.close()


@pytest.fixture
def make_relay():  # type: ignore[no-untyped-def]
    """Relay(...) factory; every relay is closed (all sessions reset) at teardown."""
    relays: list = []

    def make(**kw):  # type: ignore[no-untyped-def]
        r = _relay.Relay(**kw)
        relays.append(r)
        return r

    yield make
    for r in relays:
        r.close()


def start_relay(make_relay, **kw) -> tuple:  # type: ignore[no-untyped-def]
    """A relay and its driver."""
    r = make_relay(**kw)
    return r, Driver(r)


# ------------------------------------------------------------------- request / response


@SPLICE_MODES
def test_echo_both_ways_exact_bytes_and_counts(net, make_relay, mode):  # type: ignore[no-untyped-def]
    """Requests and responses cross the relay byte for byte, including bytes the client sent
    before add() (already queued at registration); when both peers close, the session ends
    with (token, bytes client->backend, bytes backend->client, 0) and len() drops to 0."""
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(net, Token("echo"))
    s.client.sendall(b"GET / HTTP/1.1\r\n\r\n")  # before add: must not wait for a new edge
    drv.add(s)
    assert len(relay) == 1
    assert drv.recv_exactly(s.backend, 18) == b"GET / HTTP/1.1\r\n\r\n"
    sent_in, sent_out = 18, 0
    for i in range(5):
        response = f"response {i} ".encode() * (i + 1)
        s.backend.sendall(response)
        assert drv.recv_exactly(s.client, len(response)) == response
        request = f"request {i}".encode() + bytes(range(256)) * i
        s.client.sendall(request)
        assert drv.recv_exactly(s.backend, len(request)) == request
        sent_in += len(request)
        sent_out += len(response)
    s.client.close()
    drv.expect_eof(s.backend)
    assert len(relay) == 1  # half-closed, still relaying backend -> client
    s.backend.close()
    assert drv.finished(s.token) == (s.token, sent_in, sent_out, 0)
    assert len(relay) == 0
    s.assert_fds_closed()


def test_fileno_is_readable_only_while_there_is_work(net, make_relay):  # type: ignore[no-untyped-def]
    """The epoll fd is readable when bytes wait to be moved and quiet again after run()."""
    relay, drv = start_relay(make_relay)
    s = open_session(net, "t")
    drv.add(s)
    drv.run_for(0.05)  # the registration events
    assert select.select([relay.fileno()], [], [], 0.05)[0] == []
    s.client.sendall(b"ping")
    assert select.select([relay.fileno()], [], [], DEADLINE)[0] == [relay.fileno()]
    assert relay.run() is None  # moved, nothing ended
    assert select.select([s.backend], [], [], DEADLINE)[0] == [s.backend]
    assert s.backend.recv(10) == b"ping"
    assert select.select([relay.fileno()], [], [], 0.05)[0] == []


# --------------------------------------------------------------------------- half-close


@SPLICE_MODES
def test_client_half_close(net, make_relay, mode):  # type: ignore[no-untyped-def]
    """Client shutdown(SHUT_WR): the backend reads the request then EOF, can still answer
    (several writes), the client gets all of it; the backend's close then reaches the client
    as EOF and the session ends normally (errno 0) with both fds closed."""
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(net, Token("half"))
    drv.add(s)
    s.client.sendall(b"request")
    s.client.shutdown(socket.SHUT_WR)
    assert drv.recv_exactly(s.backend, 7) == b"request"
    drv.expect_eof(s.backend)
    assert len(relay) == 1
    s.backend.sendall(b"part one;")
    assert drv.recv_exactly(s.client, 9) == b"part one;"
    s.backend.sendall(b"part two")
    s.backend.close()
    assert drv.recv_exactly(s.client, 8) == b"part two"
    drv.expect_eof(s.client)
    assert drv.finished(s.token) == (s.token, 7, 17, 0)
    assert len(relay) == 0
    s.assert_fds_closed()


@SPLICE_MODES
def test_backend_half_close(net, make_relay, mode):  # type: ignore[no-untyped-def]
    """The mirror image: the backend shuts down writing first, the client sees EOF and can
    still send; the client's close ends the session normally."""
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(net, Token("half"))
    drv.add(s)
    s.backend.sendall(b"banner\n")
    s.backend.shutdown(socket.SHUT_WR)
    assert drv.recv_exactly(s.client, 7) == b"banner\n"
    drv.expect_eof(s.client)
    s.client.sendall(b"still talking")
    assert drv.recv_exactly(s.backend, 13) == b"still talking"
    s.client.close()
    drv.expect_eof(s.backend)
    assert drv.finished(s.token) == (s.token, 13, 7, 0)
    s.assert_fds_closed()


# ------------------------------------------------------------------- bulk and back-pressure


@SPLICE_MODES
def test_bulk_both_ways_with_back_pressure(net, make_relay, mode):  # type: ignore[no-untyped-def]
    """8 MiB each way at once, the client with a small receive buffer and asleep for 0.25 s
    before it reads: the relay stops reading the backend (the backend's sends stall well
    short of 8 MiB), then delivers every byte in order both ways (sha256), passes both EOFs
    on and reports (8 MiB, 8 MiB, 0). With splice auto/always a pipe was really used.

    The relay-side buffers are pinned small (no autotuning) so that what the kernel can
    absorb between the backend and the sleeping client is far below 8 MiB."""
    size = 8 * MiB
    up, down = os.urandom(size), os.urandom(size)
    pipes_before = pipe_fds()
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(
        net, Token("bulk"), threaded=True,
        client_rcvbuf=16384, cfd_sndbuf=65536, bfd_rcvbuf=262144, backend_sndbuf=262144,
    )
    drv.add(s)
    backend_sent = [0]
    sent_when_client_woke: list[int] = []
    peers = (
        Peer(send_all, s.client, up),
        Peer(recv_to_eof, s.client, 0.25, lambda: sent_when_client_woke.append(backend_sent[0])),
        Peer(send_all, s.backend, down, backend_sent),
        Peer(recv_to_eof, s.backend),
    )
    drv.until(all_done(*peers), "both transfers")
    _, c_recv, _, b_recv = (p.result() for p in peers)
    assert b_recv == (size, sha(up))
    assert c_recv == (size, sha(down))
    assert sent_when_client_woke[0] < size // 2, "the backend was never held back"
    assert drv.finished(s.token) == (s.token, size, size, 0)
    assert len(relay) == 0
    s.assert_fds_closed()
    spliced = pipe_fds() - pipes_before  # the pool keeps the session's pipes
    assert bool(spliced) == (mode != 0)


@SPLICE_MODES
def test_stalled_session_leaves_the_relay_idle(net, make_relay, mode):  # type: ignore[no-untyped-def]
    """While the client does not read, a session whose destination is full must not keep
    the relay's fd readable (no busy loop); once the client reads, everything arrives."""
    size = 8 * MiB
    data = os.urandom(size)
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(net, Token("stall"), threaded=True, client_rcvbuf=16384, cfd_sndbuf=65536,
                     bfd_rcvbuf=262144, backend_sndbuf=262144)
    drv.add(s)
    sent = [0]
    sender = Peer(send_all, s.backend, data, sent, "close")
    # until the backend's progress stops: the session is stalled on the client
    last, since = -1, time.monotonic()
    deadline = since + DEADLINE
    while time.monotonic() - since < 0.5:  # no progress for 0.5 s: stalled, not just descheduled
        assert time.monotonic() < deadline
        drv.step()
        if sent[0] != last:
            last, since = sent[0], time.monotonic()
    assert sent[0] < size
    wakeups = sum(drv.step(0.02) for _ in range(10))
    assert wakeups <= 4, f"the relay woke {wakeups} times in 0.2 s with nothing to do"
    reader = Peer(recv_to_eof, s.client)
    drv.until(all_done(sender, reader), "the transfer")
    sender.result()
    assert reader.result() == (size, sha(data))
    s.client.close()
    assert drv.finished(s.token) == (s.token, 0, size, 0)


@pytest.mark.parametrize("mode", [0, 1, 2], ids=["copy", "auto", "splice"])
@pytest.mark.parametrize(
    "size, bufs",
    [
        # all of it and the FIN sit in the relay's pending chunk and bfd while it is blocked
        (96 * 1024, dict(client_rcvbuf=4096, cfd_sndbuf=4096)),
        (4 * MiB, dict(client_rcvbuf=16384)),
    ],
    ids=["96KiB", "4MiB"],
)
def test_fin_queued_behind_unread_bytes_is_not_lost(net, make_relay, mode, size, bufs):  # type: ignore
    """The backend sends everything and closes at once while the client is not reading:
    the FIN arrives while the relay is blocked on the client. When the client reads it gets
    every byte and then EOF (the session must not stay open forever), errno 0."""
    data = os.urandom(size)
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(net, Token("fin"), threaded=True, **bufs)
    drv.add(s)
    sender = Peer(send_all, s.backend, data, None, "close")
    drv.run_for(0.15)  # the client is not reading: the relay blocks, the FIN comes in
    reader = Peer(recv_to_eof, s.client)
    drv.until(all_done(sender, reader), "the client's EOF")
    sender.result()
    assert reader.result() == (size, sha(data))
    s.client.close()
    assert drv.finished(s.token) == (s.token, 0, size, 0)
    assert len(relay) == 0
    s.assert_fds_closed()


@pytest.mark.parametrize("mode", [0, 1, 2], ids=["copy", "auto", "splice"])
def test_client_fin_behind_unread_bytes_is_not_lost(net, make_relay, mode):  # type: ignore[no-untyped-def]
    """The same in the other direction: the client sends 96 KiB and shuts down while the
    backend is not reading; the backend gets every byte, then EOF."""
    size = 96 * 1024
    data = os.urandom(size)
    relay, drv = start_relay(make_relay, splice=mode)
    net.backend.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by accept()
    s = open_session(net, Token("fin"), threaded=True)
    drv.add(s)
    sender = Peer(send_all, s.client, data)
    drv.run_for(0.15)
    reader = Peer(recv_to_eof, s.backend)
    drv.until(all_done(sender, reader), "the backend's EOF")
    sender.result()
    assert reader.result() == (size, sha(data))
    s.backend.close()
    s.client.close()
    assert drv.finished(s.token) == (s.token, size, 0, 0)


def test_small_chunk_reads_on_across_runs(net, make_relay):  # type: ignore[no-untyped-def]
    """chunk=1024, copy mode: a pump uses up its read budget per event and continues in the
    next run() (the relay keeps its fd readable meanwhile, no new edge comes); 2 MiB arrive
    intact."""
    size = 2 * MiB
    data = os.urandom(size)
    relay, drv = start_relay(make_relay, chunk=1024, splice=0)
    s = open_session(net, Token("small"), threaded=True)
    drv.add(s)
    sender = Peer(send_all, s.client, data)
    reader = Peer(recv_to_eof, s.backend)
    drv.until(all_done(sender, reader), "the transfer")
    assert reader.result() == (size, sha(data))
    s.backend.close()
    assert drv.finished(s.token) == (s.token, size, 0, 0)


# --------------------------------------------------------------------------- urgent data


@SPLICE_MODES
def test_urgent_data_neither_stalls_nor_cuts_the_stream(net, make_relay, mode):  # type: ignore[no-untyped-def]
    """A read stops at TCP's urgent mark (MSG_OOB) and no new edge comes for what follows:
    the relay reads on, so the bytes after the mark arrive and the FIN is passed on. The
    urgent byte itself is out of band and not relayed (nor counted)."""
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(net, Token("urg"))
    drv.add(s)
    s.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)  # one segment: seen all at once
    s.client.sendall(b"a" * 100 + b"!")
    s.client.send(b"#", socket.MSG_OOB)
    s.client.sendall(b"b" * 100)
    s.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
    assert drv.recv_exactly(s.backend, 201) == b"a" * 100 + b"!" + b"b" * 100
    s.client.send(b"#", socket.MSG_OOB)
    s.client.sendall(b"tail")
    s.client.shutdown(socket.SHUT_WR)
    assert drv.recv_exactly(s.backend, 4) == b"tail"
    drv.expect_eof(s.backend)
    s.backend.close()
    assert drv.finished(s.token) == (s.token, 205, 0, 0)


@pytest.mark.parametrize(
    "mode",
    [
        0,
        1,
        2,
    ],
    ids=["copy", "auto", "splice"],
)
@pytest.mark.parametrize("fin", [False, True], ids=["open", "fin"])
def test_urgent_mark_beyond_a_full_chunk(net, make_relay, mode, fin):  # type: ignore[no-untyped-def]
    """150 KiB, an urgent byte, then "tail" (and the FIN), all queued before the relay reads:
    the reads before the mark fill whole chunks. Every byte but the urgent one must arrive,
    then the EOF when the client shut down -- not a stall at the mark, nor an EOF there."""
    net.proxy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # cfd takes it all at once
    body = os.urandom(150 * 1024)
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(net, Token("urg-far"))
    drv.add(s)
    drv.run_for(0.02)
    s.client.sendall(body)
    s.client.send(b"#", socket.MSG_OOB)
    s.client.sendall(b"tail")
    if fin:
        s.client.shutdown(socket.SHUT_WR)
    got = drv.recv_exactly(s.backend, len(body), timeout=5.0)
    assert got == body
    assert drv.recv_exactly(s.backend, 4, timeout=5.0) == b"tail"
    if fin:
        drv.expect_eof(s.backend)


# --------------------------------------------------------------------------- resets


@SPLICE_MODES
@pytest.mark.parametrize("who", ["backend", "client"])
def test_peer_reset_resets_the_other_side(net, make_relay, mode, who):  # type: ignore[no-untyped-def]
    """A peer that closes with SO_LINGER 0 (RST): the other peer sees ECONNRESET, the record
    carries errno ECONNRESET with the bytes relayed, and both fds are closed."""
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(net, Token("rst"))
    drv.add(s)
    s.client.sendall(b"hello")
    assert drv.recv_exactly(s.backend, 5) == b"hello"
    s.backend.sendall(b"hi")
    assert drv.recv_exactly(s.client, 2) == b"hi"
    gone, other = (s.backend, s.client) if who == "backend" else (s.client, s.backend)
    gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    gone.close()
    drv.expect_reset(other)
    assert drv.finished(s.token) == (s.token, 5, 2, errno.ECONNRESET)
    assert len(relay) == 0
    s.assert_fds_closed()


@SPLICE_MODES
def test_client_reset_after_half_close_ends_the_session(net, make_relay, mode):  # type: ignore[no-untyped-def]
    """The client has shut down writing (its pump is done, nothing reads its socket) and
    then resets while the backend is idle: the relay ends the session at once and resets
    the backend, instead of holding both until the backend writes. Both sockets had seen a
    FIN already (CLOSE_WAIT), so the kernel reports those resets as EPIPE, and a recv() on
    the backend keeps returning EOF: its socket error tells the reset."""
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(net, Token("hc-rst"))
    drv.add(s)
    s.client.shutdown(socket.SHUT_WR)
    drv.expect_eof(s.backend)
    s.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    s.client.close()
    rec = drv.finished(s.token)
    assert rec[:3] == (s.token, 0, 0) and rec[3] in (errno.EPIPE, errno.ECONNRESET)
    reset = (errno.EPIPE, errno.ECONNRESET)
    drv.until(lambda: s.backend.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) in reset, "the backend's reset")
    s.assert_fds_closed()


@SPLICE_MODES
def test_client_reset_ends_a_session_blocked_on_the_backend(net, make_relay, mode):  # type: ignore[no-untyped-def]
    """The backend does not read, so client->backend is blocked and the relay ignores the
    client's socket; a reset from the client still ends the session at once (ECONNRESET),
    and the backend gets what was relayed, then a reset."""
    net.proxy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # cfd, via accept()
    net.backend.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # the backend
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(net, Token("blocked-rst"))
    drv.add(s)
    blocked = 0
    deadline = time.monotonic() + DEADLINE
    while blocked < 3:  # until every buffer on the way is full
        assert time.monotonic() < deadline
        try:
            s.client.send(b"x" * 65536)
            blocked = 0
        except BlockingIOError:
            blocked += 1
            drv.run_for(0.05)
    s.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    s.client.close()
    token, nin, nout, err = drv.finished(s.token)
    assert (nout, err) == (0, errno.ECONNRESET) and nin > 0
    drv.expect_reset(s.backend)
    s.assert_fds_closed()


@SPLICE_MODES
def test_bytes_sent_just_before_a_reset_reach_the_client(net, make_relay, mode):  # type: ignore[no-untyped-def]
    """A backend answers and resets at once (an HTTP server that closes with unread request
    bytes sends an RST: "413 Payload Too Large" then close). Without a proxy the client
    reads the answer, then ECONNRESET; through the relay it should too (the bytes are in
    bfd's receive queue when the reset is reported), and bytes_out counts them."""
    answer = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n"
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(net, Token("last-words"))
    drv.add(s)
    drv.run_for(0.05)
    s.backend.sendall(answer)
    s.backend.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
    s.backend.close()
    rec = drv.finished(s.token)
    got = b""
    with pytest.raises(ConnectionResetError):
        while True:
            data = s.client.recv(4096)
            assert data, "EOF instead of a reset"
            got += data
    assert got == answer
    assert rec == (s.token, 0, len(answer), errno.ECONNRESET)


def test_add_of_an_unpollable_fd_ends_at_once(net, make_relay):  # type: ignore[no-untyped-def]
    """A "backend" fd epoll refuses (/dev/null: EPERM): add() itself returns the record
    with that errno, the client is reset and both fds are closed."""
    relay, drv = start_relay(make_relay)
    s = open_session(net, "x")
    devnull = os.open("/dev/null", os.O_RDWR)
    ino = os.fstat(devnull).st_ino
    recs = relay.add(s.cfd, devnull, "x")
    assert recs == [("x", 0, 0, errno.EPERM)]
    assert len(relay) == 0
    with pytest.raises(ConnectionResetError):
        s.client.recv(1)
    assert_fd_closed(devnull, ino)
    assert_fd_closed(s.cfd, s.inodes[0])
    os.close(s.bfd)


# --------------------------------------------------------------------------- abort / close


@SPLICE_MODES
def test_abort_resets_both_peers(net, make_relay, mode):  # type: ignore[no-untyped-def]
    """abort(cfd, token) ends the session at once: the record (errno 0) comes back from the
    call, len() drops, both peers see a reset, both fds are closed; a wrong token, a gone
    session or a backend fd abort nothing."""
    relay, drv = start_relay(make_relay, splice=mode)
    s = open_session(net, Token("abort"))
    other = open_session(net, Token("bystander"))
    drv.add(s)
    drv.add(other)
    s.client.sendall(b"abc")
    assert drv.recv_exactly(s.backend, 3) == b"abc"
    assert relay.abort(s.cfd, Token("other")) is None  # not this session's token
    assert len(relay) == 2
    assert relay.abort(s.cfd, s.token) == [(s.token, 3, 0, 0)]
    assert len(relay) == 1
    s.assert_fds_closed()
    for peer in (s.client, s.backend):
        with pytest.raises(ConnectionResetError):
            peer.recv(1)
    assert relay.abort(s.cfd, s.token) is None  # gone
    assert relay.abort(other.bfd, other.token) is None  # not a client fd
    assert relay.abort(-1, other.token) is None
    # the bystander is untouched
    other.client.sendall(b"still here")
    assert drv.recv_exactly(other.backend, 10) == b"still here"
    assert relay.abort_all() == [(other.token, 10, 0, 0)]
    assert len(relay) == 0
    other.assert_fds_closed()


def test_abort_of_a_reused_fd_number_needs_the_token(net, make_relay):  # type: ignore[no-untyped-def]
    """Once a session has ended its client fd number is reused; abort() with the old
    session's (cfd, token) must not reset the new session that now has that number."""
    relay, drv = start_relay(make_relay)
    old = open_session(net, Token("old"))
    drv.add(old)
    new_s = open_session(net, Token("new"))
    assert relay.abort(old.cfd, old.token) == [(old.token, 0, 0, 0)]
    os.dup2(new_s.cfd, old.cfd)  # the new session's client fd gets the old (now free) number
    os.close(new_s.cfd)
    new_s.cfd = old.cfd
    new_s.inodes = (os.fstat(new_s.cfd).st_ino, new_s.inodes[1])
    drv.add(new_s)
    assert relay.abort(old.cfd, old.token) is None
    assert len(relay) == 1
    new_s.client.sendall(b"alive")
    assert drv.recv_exactly(new_s.backend, 5) == b"alive"
    assert relay.abort(old.cfd, new_s.token) == [(new_s.token, 5, 0, 0)]
    new_s.assert_fds_closed()


def test_an_ended_session_leaves_no_epoll_item_behind(net, make_relay):  # type: ignore[no-untyped-def]
    """An epoll item lives as long as its open file, not its fd: when another fd (a dup, a
    forked child's copy) keeps the sockets open after the session ended, their events must
    not reach the relay (they would point at a freed session)."""
    relay, drv = start_relay(make_relay)
    s = open_session(net, Token("dup"))
    keep = [os.dup(s.cfd), os.dup(s.bfd)]
    try:
        drv.add(s)
        s.client.sendall(b"one")
        assert drv.recv_exactly(s.backend, 3) == b"one"
        assert relay.abort(s.cfd, s.token) == [(s.token, 3, 0, 0)]
        drv.records.clear()
        s.client.sendall(b"two")  # the sockets live on through the dups: events happen
        s.backend.sendall(b"three")
        assert select.select([relay.fileno()], [], [], 0.1)[0] == []
        relay.run()
        # another session afterwards works normally
        t = open_session(net, Token("after"))
        drv.add(t)
        t.client.sendall(b"ok")
        assert drv.recv_exactly(t.backend, 2) == b"ok"
        assert drv.records == []
    finally:
        for fd in keep:
            os.close(fd)


def test_collect_reports_deltas_and_the_record_the_rest(net, make_relay):  # type: ignore[no-untyped-def]
    """collect() gives the bytes since the last report per live session (nothing for an
    idle one); the end record carries only what collect() had not reported yet."""
    relay, drv = start_relay(make_relay)
    s = open_session(net, Token("a"))
    idle = open_session(net, Token("idle"))
    drv.add(s)
    drv.add(idle)
    assert relay.collect() == []
    s.client.sendall(b"x" * 100)
    drv.recv_exactly(s.backend, 100)
    s.backend.sendall(b"y" * 50)
    drv.recv_exactly(s.client, 50)
    assert relay.collect() == [(s.token, 100, 50)]
    assert relay.collect() == []
    s.client.sendall(b"z" * 7)
    drv.recv_exactly(s.backend, 7)
    assert relay.collect() == [(s.token, 7, 0)]
    s.client.sendall(b"w" * 3)
    drv.recv_exactly(s.backend, 3)
    s.backend.sendall(b"v" * 11)
    drv.recv_exactly(s.client, 11)
    s.client.close()
    s.backend.close()
    assert drv.finished(s.token) == (s.token, 3, 11, 0)
    assert relay.collect() == []
    assert relay.abort(idle.cfd, idle.token) == [(idle.token, 0, 0, 0)]


def test_close_resets_everything_and_returns_the_records(net, make_relay):  # type: ignore[no-untyped-def]
    """close() resets every session (both peers see ECONNRESET), closes their fds, returns
    their records (errno 0) and leaves a closed relay: run() is a no-op, fileno() raises
    ValueError, add() still takes the fds but ends the session at once (EBADF, both peers
    reset), a second close() returns None."""
    relay, drv = start_relay(make_relay)
    sessions = [open_session(net, Token(str(i))) for i in range(3)]
    for s in sessions:
        drv.add(s)
    sessions[0].client.sendall(b"12345")
    drv.recv_exactly(sessions[0].backend, 5)
    recs = relay.close()
    assert sorted(recs, key=lambda r: r[0].name) == [
        (sessions[0].token, 5, 0, 0), (sessions[1].token, 0, 0, 0), (sessions[2].token, 0, 0, 0),
    ]
    assert relay.closed and len(relay) == 0
    for s in sessions:
        s.assert_fds_closed()
        for peer in (s.client, s.backend):
            with pytest.raises(ConnectionResetError):
                peer.recv(1)
    assert relay.run() is None
    assert relay.collect() == []
    assert relay.abort_all() is None
    with pytest.raises(ValueError):
        relay.fileno()
    late = open_session(net, "late")
    assert relay.add(late.cfd, late.bfd, "late") == [("late", 0, 0, errno.EBADF)]
    late.assert_fds_closed()
    for peer in (late.client, late.backend):
        with pytest.raises(ConnectionResetError):
            peer.recv(1)
    assert len(relay) == 0
    assert relay.close() is None


def test_dealloc_resets_live_sessions_and_releases_tokens(net):  # type: ignore[no-untyped-def]
    """Dropping the last reference to a relay with live sessions resets them, closes their
    fds and releases their tokens."""
    relay = _relay.Relay()
    token = Token("dealloc")
    ref = weakref.ref(token)
    s = open_session(net, token)
    Driver(relay).add(s)
    s.token = token = None
    del relay
    assert ref() is None
    s.assert_fds_closed()
    with pytest.raises(ConnectionResetError):
        s.client.recv(1)


# --------------------------------------------------------------------------- tokens


@pytest.mark.parametrize("how", ["eof", "reset", "abort", "abort_all", "close"])
def test_token_is_released_after_its_record(net, make_relay, how):  # type: ignore[no-untyped-def]
    """The relay holds the token while the session lives and lets go of it when the session
    ends: once the caller drops the record, a weak reference to the token is dead."""
    relay, drv = start_relay(make_relay)
    token = Token(how)
    ref = weakref.ref(token)
    s = open_session(net, token)
    drv.add(s)
    s.token = token = None
    assert ref() is not None  # the relay's reference
    if how == "eof":
        s.client.close()
        s.backend.close()
        drv.until(lambda: drv.records, "the record")
    elif how == "reset":
        s.backend.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        s.backend.close()
        drv.until(lambda: drv.records, "the record")
    elif how == "abort":
        drv.take(relay.abort(s.cfd, ref()))
    elif how == "abort_all":
        drv.take(relay.abort_all())
    else:
        drv.take(relay.close())
    assert [r[0] for r in drv.records] == [ref()]
    drv.records.clear()
    assert ref() is None


def test_a_token_cycle_through_the_relay_is_collected(net):  # type: ignore[no-untyped-def]
    """A token that refers back to the relay (the Python session holds its relay) makes a
    cycle; the cyclic GC collects it, which resets the live sessions and closes their fds."""
    relay = _relay.Relay()
    token = Token("cycle")
    token.relay = relay  # type: ignore[attr-defined]
    ref = weakref.ref(token)
    s = open_session(net, token)
    Driver(relay).add(s)
    s.token = token = relay = None
    assert ref() is not None  # only the cycle holds it
    gc.collect()
    assert ref() is None
    s.assert_fds_closed()
    with pytest.raises(ConnectionResetError):
        s.client.recv(1)


# --------------------------------------------------------------------------- many sessions


@SPLICE_MODES
def test_many_concurrent_sessions(net, make_relay, mode):  # type: ignore[no-untyped-def]
    """200 sessions at once, each echoing its own data (different sizes): every backend gets
    exactly its client's bytes and every client exactly its backend's answer; half-close
    then close ends them all normally with exact counts and len() back to 0."""
    n = 200
    relay, drv = start_relay(make_relay, splice=mode)
    sessions = [open_session(net, Token(str(i))) for i in range(n)]
    payload = {s.token: f"<session {s.token.name}>".encode() * (1 + int(s.token.name) * 7 % 500) for s in sessions}
    for s in sessions:
        drv.add(s)
        s.client.sendall(payload[s.token])
    assert len(relay) == n

    got: dict[object, bytearray] = {s.token: bytearray() for s in sessions}

    def all_read(side: str) -> bool:
        done = True
        for s in sessions:
            buf = got[s.token]
            want = len(payload[s.token])
            if len(buf) < want:
                try:
                    buf.extend(getattr(s, side).recv(want - len(buf)))
                except BlockingIOError:
                    pass
                done = done and len(buf) == want
        return done

    drv.until(lambda: all_read("backend"), "every request")
    for s in sessions:
        assert got[s.token] == payload[s.token]
        got[s.token] = bytearray()
        s.backend.sendall(payload[s.token][::-1])  # the answer differs from the request
    drv.until(lambda: all_read("client"), "every answer")
    for s in sessions:
        assert got[s.token] == payload[s.token][::-1]
        s.client.shutdown(socket.SHUT_WR)
    for s in sessions:
        drv.expect_eof(s.backend)
        s.backend.close()
    drv.until(lambda: len(drv.records) == n, "every end record")
    assert len(relay) == 0
    assert sorted(drv.records, key=lambda r: int(r[0].name)) == [
        (s.token, len(payload[s.token]), len(payload[s.token]), 0) for s in sessions
    ]
    for s in sessions:
        drv.expect_eof(s.client)
        s.assert_fds_closed()


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "kw",
    [dict(chunk=1023), dict(chunk=0), dict(chunk=-1), dict(pipe_size=4095), dict(splice=3), dict(splice=-1)],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()),
)
def test_invalid_constructor_arguments(kw):  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        _relay.Relay(**kw)


def test_init_twice_is_refused():  # type: ignore[no-untyped-def]
    r = _relay.Relay()
    try:
        with pytest.raises(RuntimeError):
            r.__init__()
    finally:
        r.close()


def test_smallest_valid_arguments_work(net, make_relay):  # type: ignore[no-untyped-def]
    """chunk=1024 and pipe_size=4096 are accepted and relay correctly with splice always."""
    relay, drv = start_relay(make_relay, chunk=1024, splice=2, pipe_size=4096)
    assert not relay.closed and len(relay) == 0
    s = open_session(net, "min")
    drv.add(s)
    data = bytes(range(256)) * 64
    s.client.sendall(data)
    assert drv.recv_exactly(s.backend, len(data)) == data


def test_add_rejects_invalid_fds_and_leaves_them_to_the_caller(net, make_relay):  # type: ignore[no-untyped-def]
    """add() with a negative fd or the same fd twice raises ValueError and takes nothing:
    the fds stay open and the caller's, the relay stays usable."""
    relay, drv = start_relay(make_relay)
    s = open_session(net, "bad")
    for cfd, bfd in ((-1, s.bfd), (s.cfd, -1), (s.cfd, s.cfd), (-5, -5)):
        with pytest.raises(ValueError):
            relay.add(cfd, bfd, "bad")
    assert len(relay) == 0
    assert (os.fstat(s.cfd).st_ino, os.fstat(s.bfd).st_ino) == s.inodes
    drv.add(s)
    s.client.sendall(b"fine")
    assert drv.recv_exactly(s.backend, 4) == b"fine"


def _run_isolated(code: str, timeout: float) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a crash or a hang must not take pytest along)."""
    prelude = "import socket\nfrom svcnet.proxy.userspace import _relay\n"
    try:
        return subprocess.run(
            [sys.executable, "-c", prelude + textwrap.dedent(code)],
            capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung for {timeout} s")


def test_add_with_an_out_of_range_client_fd_fails_cleanly():  # type: ignore[no-untyped-def]
    """add() with a client fd no process can have (INT_MAX, above the kernel's fd limit)
    must fail cleanly, not hang."""
    proc = _run_isolated(
        """
        import errno
        r = _relay.Relay()
        x, y = socket.socketpair()
        assert r.add(2**31 - 1, y.detach(), "bad") == [("bad", 0, 0, errno.EMFILE)]
        assert len(r) == 0 and x.recv(1) == b""  # refused: the backend fd was closed
        print("done")
        """,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stdout.rstrip().endswith("done"), (proc.returncode, proc.stderr[-300:])


# ------------------------------------------------------------------ accept() and reset()


def test_accept_gives_a_nonblocking_fd_and_the_peer_address(net):  # type: ignore[no-untyped-def]
    """The listeners of the compiled relay accept with _relay.accept: a bare non-blocking fd
    and the client's (host, port); None when nothing is waiting."""
    net.proxy.setblocking(False)
    assert _relay.accept(net.proxy.fileno()) is None
    client = socket.create_connection(net.proxy.getsockname(), timeout=DEADLINE)
    net.sockets.append(client)
    deadline = time.monotonic() + DEADLINE
    accepted = None
    while accepted is None and time.monotonic() < deadline:
        accepted = _relay.accept(net.proxy.fileno())
    assert accepted is not None
    fd, host, port = accepted
    try:
        assert (host, port) == client.getsockname()
        assert not os.get_blocking(fd)
        with pytest.raises(BlockingIOError):
            os.read(fd, 1)
        client.sendall(b"hi")
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            try:
                assert os.read(fd, 2) == b"hi"
                break
            except BlockingIOError:
                time.sleep(0.01)
        else:
            pytest.fail("no bytes on the accepted fd")
    finally:
        _relay.reset(fd)
    with pytest.raises(ConnectionResetError):
        client.recv(1)  # reset() closed with an RST, not a FIN


def test_accept_errors_are_oserrors():  # type: ignore[no-untyped-def]
    with socket.socket() as s:  # not listening
        with pytest.raises(OSError) as e:
            _relay.accept(s.fileno())
        assert e.value.errno == errno.EINVAL
