"""The TCP data plane: accept, pick, connect with retry, then relay bytes both ways.

Theory of operation
-------------------
A :class:`TcpListener` owns one listening socket. Everything runs on the event loop (uvloop
when the process installed it) through the data plane's
:class:`~svcnet.proxy.userspace.reactor.Reactor`: raw non-blocking sockets, each registered
once, edge-triggered, for reads and writes. There is no coroutine, task, stream or transport
per connection; the per-connection and per-chunk cost in Python is a few attribute accesses
around the syscalls a C proxy makes too.

Per accepted connection (a :class:`_Session`):

1. **Pick and connect.** The listener's :class:`~svcnet.proxy.userspace.balancer.Picker`
   chooses an endpoint (scheduler + affinity); a non-blocking connect is started and given
   upstream's dial timeout for that attempt: 250 ms, 500 ms, 1 s, 2 s
   (``pkg/proxy/userspace/proxysocket.go`` ``endpointDialTimeout``). A failed or timed-out
   attempt is uncounted and the next attempt goes to an endpoint **not tried yet** (affinity
   ignored, upstream's ``sessionAffinityReset``). After four attempts, or when no untried
   endpoint is left, the client is closed with an RST (``SO_LINGER`` 0). The client's bytes
   wait in its kernel receive buffer until the backend is connected. On loopback the handshake
   usually completes inside ``connect()`` (checked with ``TCP_INFO``), and the client's
   first bytes are usually there already: both are tried at once, saving trips through the
   event loop per connection.
2. **Relay.** Two :class:`~svcnet.proxy.userspace.pumps.Pump` objects, client->endpoint and endpoint->client. A pump reads
   when its source is readable and writes at once. When the destination cannot take it all,
   the pump is *blocked*: it holds the rest (one chunk at most), ignores its source until the
   destination is writable again, flushes, and then reads on (back-pressure). Bytes move by
   ``os.read`` + ``os.write`` on the fds (both sockets non-blocking) or, for bulk, by
   ``splice(2)`` through a pipe (zero-copy: the kernel moves page references socket -> pipe
   -> socket). A pump's first read asks for :data:`SMALL_READ` bytes, so the bytes object
   comes from pymalloc; a message that fills it is read to its end at once and the pump reads
   :data:`COPY_CHUNK` from then on. With ``splice="auto"`` a direction switches to splice once
   a read fills that (a stream, not request/response); pipes come from a small pool
   (:mod:`~svcnet.proxy.userspace.pipes`) and go back empty.
3. **Edge-triggered reads.** A short read drains a TCP socket, so one read per edge
   suffices; a full read, a splice, or a pump unblocking reads on by itself
   (``Reactor.soon``), since no new edge comes for bytes already queued -- nor a new event
   for a FIN that had arrived already: the pump remembers ``EPOLLRDHUP``, so a later short
   read still ends the direction (it used to be lost, leaving the session open forever).
4. **Close.** EOF on one side is propagated as ``shutdown(SHUT_WR)`` on the other once the
   pump has flushed (half-close); when both directions have ended the session closes both
   sockets (the last FIN goes out with the close). A reset or I/O error on either side aborts
   the session and resets the other side.

Two engines move the bytes of step 2 (``TcpOptions.engine``): the compiled relay
(:mod:`~svcnet.proxy.userspace.relay`, ``_relay.c``: the same rules in C, one hand-over per
session) when it was built, else the Python pumps below. Steps 1 and 4's decisions (pick,
retry, counters, affinity) are Python in both. Why: with the same syscalls as HAProxy per
request (one read + one write per message, one ``epoll_wait`` per ~32 events) and the same
kernel time, the Python pumps spent ~2.0 us of user time per keep-alive request against
HAProxy's ~1.3 (0.93-0.99x its requests per core); the compiled relay spends ~0.7 us
(docs/benchmarks.md has the figures). Variants of the Python pumps measured and not kept:
socket methods instead of ``os.read``/``os.write`` (equal), ``recv_into`` a shared buffer
(-0.2%), reading on to EAGAIN (-15%), ``splice`` for small messages (-11%), polling again
before going back to the loop (+-0); asyncio Protocols (uvloop's C read path, but ~130-160 us
per new connection against ~90, and a transport cannot splice).

A listener's :meth:`TcpListener.close` closes only the listening socket: accepted sessions
keep running to their natural end (draining). Listener sockets use ``SO_REUSEADDR`` so a
re-bind is not blocked by ``TIME_WAIT``.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import socket
import struct
from dataclasses import dataclass
from typing import Any

from svcnet.proxy.userspace.balancer import Picker, Target
from svcnet.proxy.userspace.pipes import PipePool
from svcnet.proxy.userspace.pumps import COPY_CHUNK, HAVE_SPLICE, READ_EVENTS, Pump
from svcnet.proxy.userspace.reactor import EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP, Reactor, reactor_for
from svcnet.proxy.userspace.relay import CompiledRelay, accept_fd, engine_name, relay_for, reset_fd

__all__ = ["COPY_CHUNK", "DIAL_TIMEOUTS", "PipePool", "TcpListener", "TcpOptions"]

log = logging.getLogger(__name__)

#: upstream userspace ``endpointDialTimeout``: at most four attempts, 3.75 s in total
DIAL_TIMEOUTS = (0.25, 0.5, 1.0, 2.0)
#: at most this many connections accepted per readiness event (fairness vs. batching)
ACCEPT_BATCH = 64
#: out of file descriptors: stop accepting for this long (the listener is level-triggered,
#: so accepting on would spin on the connection that cannot be accepted)
ACCEPT_PAUSE = 0.1
_ACCEPT_RESOURCE_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

_Sock = socket.SocketType  # the C socket type: no Python-level __init__ per connection
_STREAM_NB = socket.SOCK_STREAM | socket.SOCK_NONBLOCK
_LINGER0 = struct.pack("ii", 1, 0)
_TCP_INFO = getattr(socket, "TCP_INFO", 11)
_TCP_ESTABLISHED = 1  # include/net/tcp_states.h
_RESET_ERRNOS = (errno.ECONNRESET, errno.EPIPE, errno.ETIMEDOUT, errno.EHOSTUNREACH)


@dataclass(frozen=True, slots=True, kw_only=True)
class TcpOptions:
    dial_timeouts: tuple[float, ...] = DIAL_TIMEOUTS
    #: "auto" (copy, splice once a direction streams), "always" or "never"
    splice: str = "auto"
    #: pipe capacity for splice (``F_SETPIPE_SZ``; capped by ``fs.pipe-max-size``)
    pipe_size: int = 1 << 20
    backlog: int = 4096
    nodelay: bool = True
    #: who moves the bytes of a connected session: "c" (the compiled relay, relay.py),
    #: "python" (the pumps below), "auto" (C when it was built)
    engine: str = "auto"


class _Session:
    """One client connection: dial (with retry), then two pumps."""

    __slots__ = (
        "attempt",
        "b2c",
        "bfd",
        "bsock",
        "c2b",
        "cfd",
        "client_ip",
        "client_port",
        "closed",
        "csock",
        "listener",
        "picker",
        "reactor",
        "relay",
        "target",
        "timer",
        "token",
        "tried",
    )

    def __init__(self, listener: TcpListener, csock: Any, cfd: int, client: tuple) -> None:
        self.listener = listener
        self.reactor: Reactor = listener.reactor
        self.picker = listener.picker
        self.csock = csock
        self.cfd = cfd
        self.bfd = -1
        self.client_ip = client[0]
        self.client_port = client[1]
        self.bsock: Any = None
        self.target: Target | None = None
        self.token: Any = None
        self.attempt = 0
        self.tried: tuple[Target, ...] = ()
        self.timer: asyncio.TimerHandle | None = None
        self.c2b: Pump | None = None
        self.b2c: Pump | None = None
        self.relay: CompiledRelay | None = None  # set once the compiled relay moves the bytes
        self.closed = False

    # -- dialling -----------------------------------------------------------------------------

    def dial(self) -> None:
        picker = self.picker
        target = picker.pick(self.client_ip, self.client_port, self.listener.ip, self.tried)
        if target is None:
            self.reset_client()
            return
        self.target = target
        self.token = picker.opened(target, "TCP")
        self.tried += (target,)
        if self.attempt:
            picker.stats.retries += 1
            target.stats.retries += 1
        try:
            s = _Sock(target.family, _STREAM_NB)
        except OSError as e:  # EMFILE and friends: nothing to retry with
            log.warning("tcp %s: cannot create a socket: %s", self.listener.name, e)
            picker.failed(target, self.token)
            self.target = None
            self.reset_client()
            return
        self.bsock = s
        self.bfd = bfd = s.fileno()
        if self.listener.nodelay:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = s.connect_ex(target.addr)
        if err == errno.EINPROGRESS:
            # on loopback the handshake usually completes inside connect(): check (tcpi_state,
            # the first byte of TCP_INFO), and save a round through the event loop (and the
            # dial timer) when it did
            if s.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, 1)[0] == _TCP_ESTABLISHED:
                err = 0
        if err == errno.EINPROGRESS:
            # registered after connect: a socket that is not connecting yet reports HUP
            self.reactor.register(bfd, self._on_connecting)
            timeouts = self.listener.dial_timeouts
            self.timer = self.listener.loop.call_later(timeouts[min(self.attempt, len(timeouts) - 1)], self._on_timeout)
        elif err == 0:
            self._connected()
            if self.b2c is not None and not self.closed:
                self.reactor.register(bfd, self.b2c.on_event)
        else:
            self._dial_failed(err)

    def _on_connecting(self, ev: int) -> None:
        if ev & (EPOLLERR | EPOLLHUP):
            err = self.bsock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or errno.ECONNREFUSED
            self._dial_failed(err)
        elif ev & EPOLLOUT:
            if self.listener.relay is not None:
                self.reactor.unregister(self.bfd)  # the relay's epoll set takes it over
            self._connected()
            if self.b2c is not None and not self.closed:
                self.reactor.handlers[self.bfd] = self.b2c.on_event
                if ev & READ_EVENTS:
                    self.b2c.on_event(ev & (READ_EVENTS | EPOLLRDHUP))

    def _on_timeout(self) -> None:
        self.timer = None
        self._dial_failed(errno.ETIMEDOUT)

    def _dial_failed(self, err: int) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        target = self.target
        self.picker.failed(target, self.token)  # type: ignore[arg-type]
        self.reactor.close(self.bsock, self.bfd)
        self.bsock = None
        self.bfd = -1
        self.target = None
        self.attempt += 1
        log.debug("tcp %s: connect to %s failed: %s", self.listener.name, target, os.strerror(err))
        if self.attempt >= len(self.listener.dial_timeouts):
            log.info("tcp %s: failed to connect to an endpoint (%d attempts)", self.listener.name, self.attempt)
            self.reset_client()
            return
        self.dial()

    def reset_client(self) -> None:
        """All attempts failed (or no endpoint): close the client with an RST."""
        self.closed = True
        if self.csock is None:  # accepted for the compiled relay: a bare fd, in no epoll set
            reset_fd(self.cfd)
        else:
            try:
                self.csock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER0)
            except OSError:
                pass
            self.reactor.close(self.csock, self.cfd)
        self.listener.sessions.discard(self)

    def _connected(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        relay = self.listener.relay
        if relay is not None:
            # from here on the relay owns both fds; the socket object lets go of its fd
            self.bsock.detach()
            self.csock = self.bsock = None
            self.relay = relay
            relay.add(self.cfd, self.bfd, self)
            return
        splice = self.listener.always_splice
        cfd = self.cfd
        bfd = self.bfd
        self.c2b = c2b = Pump(self, self.csock, self.bsock, cfd, bfd, True, splice)
        self.b2c = b2c = Pump(self, self.bsock, self.csock, bfd, cfd, False, splice)
        c2b.peer, b2c.peer = b2c, c2b
        # speculative read: the client has usually sent its first bytes by now; what arrives
        # after this read makes the (edge-triggered) registration below report at once
        c2b.on_event(EPOLLIN)
        if not self.closed:
            self.reactor.register(cfd, c2b.on_event)

    # -- teardown -----------------------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.reactor.close(self.csock, self.cfd)
        self.reactor.close(self.bsock, self.bfd)
        self._finish()

    def abort(self, exc: BaseException | None = None) -> None:
        """A reset or I/O error (or shutdown): reset both sides."""
        if self.closed:
            return
        if self.relay is not None:
            self.relay.abort(self.cfd, self)  # reports back through relay_finished
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for s, fd in ((self.csock, self.cfd), (self.bsock, self.bfd)):
            if s is None:
                if fd >= 0:  # the client's bare fd (accepted for the compiled relay)
                    reset_fd(fd)
                continue
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER0)
            except OSError:
                pass
            self.reactor.close(s, fd)
        if exc is not None and getattr(exc, "errno", None) not in _RESET_ERRNOS:
            log.debug("tcp %s: session aborted: %s", self.listener.name, exc)
        self._finish()

    def flush_stats(self) -> None:
        """Add the bytes the Python pumps relayed since the last flush to the counters."""
        c2b, b2c = self.c2b, self.b2c
        if c2b is not None and b2c is not None and (c2b.nbytes or b2c.nbytes):
            self.add_bytes(c2b.nbytes, b2c.nbytes)
            c2b.nbytes = b2c.nbytes = 0

    def add_bytes(self, nin: int, nout: int) -> None:
        """Count bytes relayed client->endpoint (``nin``) and back (``nout``)."""
        t = self.target
        if t is None:
            return
        t.stats.bytes_in += nin
        t.stats.bytes_out += nout
        stats = self.picker.stats
        stats.bytes_in += nin
        stats.bytes_out += nout

    def relay_finished(self, nin: int, nout: int, err: int) -> None:
        """The compiled relay ended this session (closed both fds): count and forget it."""
        self.closed = True
        self.add_bytes(nin, nout)
        if err and err not in _RESET_ERRNOS:
            log.debug("tcp %s: session aborted: %s", self.listener.name, os.strerror(err))
        self._forget()

    def _finish(self) -> None:
        self.flush_stats()
        for p in (self.c2b, self.b2c):
            if p is not None:
                p.stop = True
                p.peer = None
                p.release()
        # break the session <-> pump cycle: freed by reference counting, not by the cyclic GC
        # (which would otherwise run every few hundred connections)
        self.c2b = self.b2c = None
        self._forget()

    def _forget(self) -> None:
        self.listener.sessions.discard(self)
        if self.target is not None:
            self.picker.closed(self.target, self.token, self.client_ip)


class TcpListener:
    """One ``ip:port`` TCP listener in front of a :class:`Picker`."""

    def __init__(
        self,
        ip: str,
        port: int,
        picker: Picker,
        *,
        options: TcpOptions | None = None,
        pipes: PipePool | None = None,
        source_ranges: tuple[str, ...] = (),
        name: str = "",
    ) -> None:
        opts = options or TcpOptions()
        self.ip = ip
        self.port = port
        self.picker = picker
        self.name = name or f"{ip}:{port}"
        self.dial_timeouts = opts.dial_timeouts
        self.backlog = opts.backlog
        self.nodelay = opts.nodelay
        use_splice = HAVE_SPLICE and opts.splice != "never"
        self.always_splice = use_splice and opts.splice == "always"
        self.auto_splice = use_splice and opts.splice == "auto"
        self.pipes = pipes or PipePool(opts.pipe_size)
        self.engine = engine_name(opts.engine)  # "c" or "python"; ValueError for "c" when not built
        self.splice_mode = opts.splice if use_splice else "never"
        self.relay: CompiledRelay | None = None
        self.sessions: set[_Session] = set()
        self.accept_pauses = 0
        self.sock: Any = None
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.reactor: Reactor = None  # type: ignore[assignment]
        self.source_ranges = source_ranges
        self._allowed = [ipaddress.ip_network(r, strict=False) for r in source_ranges]

    def set_source_ranges(self, ranges: tuple[str, ...]) -> None:
        self.source_ranges = ranges
        self._allowed = [ipaddress.ip_network(r, strict=False) for r in ranges]

    def start(self) -> None:
        """Bind and listen. Raises OSError (EADDRINUSE, EACCES, EADDRNOTAVAIL...)."""
        self.loop = asyncio.get_running_loop()
        self.reactor = reactor_for(self.loop)
        if self.engine == "c":
            self.relay = relay_for(self.loop, COPY_CHUNK, self.splice_mode, self.pipes.size)
        family = socket.AF_INET6 if ":" in self.ip else socket.AF_INET
        sock = _Sock(family, _STREAM_NB)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.nodelay:  # accepted sockets inherit it: no setsockopt per connection
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self.ip, self.port))
            sock.listen(self.backlog)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        if not self.port:
            self.port = sock.getsockname()[1]
        self.reactor.register(sock.fileno(), self._on_accept, EPOLLIN)  # level-triggered

    def close(self) -> None:
        """Stop accepting; accepted sessions go on (draining)."""
        if self.sock is not None:
            self.reactor.close(self.sock)
            self.sock = None

    def close_all(self) -> None:
        """Stop accepting and reset every session (shutdown)."""
        self.close()
        for s in list(self.sessions):
            s.abort()

    @property
    def listening(self) -> bool:
        return self.sock is not None

    def flush_stats(self) -> None:
        if self.relay is not None:
            self.relay.collect()  # every session of the relay, this listener's among them
        for s in self.sessions:
            s.flush_stats()

    def _on_accept(self, ev: int) -> None:
        sock = self.sock
        if sock is None:
            return
        family = sock.family
        lfd = sock.fileno() if self.relay is not None else -1
        for _ in range(ACCEPT_BATCH):
            try:
                if lfd >= 0:  # for the compiled relay: a bare non-blocking fd, no socket object
                    accepted = accept_fd(lfd)
                    if accepted is None:
                        return
                    fd, *client = accepted
                    csock = None
                else:
                    fd, client = sock._accept()
                    csock = _Sock(family, socket.SOCK_STREAM, 0, fd)
                    csock.setblocking(False)  # accept4() without SOCK_NONBLOCK: one ioctl
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in _ACCEPT_RESOURCE_ERRNOS:
                    self.accept_pauses += 1
                    if self.accept_pauses == 1 or self.accept_pauses % 100 == 0:  # not 10 lines a second
                        log.warning("tcp %s: accept: %s; pausing for %.1fs (%d times)", self.name, e, ACCEPT_PAUSE, self.accept_pauses)
                    self.reactor.modify(sock.fileno(), self._on_accept, 0)
                    self.loop.call_later(ACCEPT_PAUSE, self._resume_accept)
                    return
                continue  # ECONNABORTED and friends: that connection is gone, take the next
            if self._allowed and not self._source_allowed(client[0]):
                if csock is None:
                    reset_fd(fd)
                else:
                    csock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER0)
                    csock.close()
                continue
            s = _Session(self, csock, fd, client)
            self.sessions.add(s)
            s.dial()

    def _resume_accept(self) -> None:
        if self.sock is not None:
            self.reactor.modify(self.sock.fileno(), self._on_accept, EPOLLIN)

    def _source_allowed(self, ip: str) -> bool:
        addr = ipaddress.ip_address(ip)
        return any(addr in net for net in self._allowed)

    def __repr__(self) -> str:
        return f"TcpListener({self.name} sessions={len(self.sessions)})"
