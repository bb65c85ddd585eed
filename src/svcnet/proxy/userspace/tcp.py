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
2. **Relay.** Two :class:`_Pump` objects, client->endpoint and endpoint->client. A pump reads
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

Cost per keep-alive request (``bench/proxy.py``: loopback, proxy pinned to one core, HAProxy
2.6 ``mode tcp`` beside it; CPU time per request). The syscalls are HAProxy's: per relayed
message one read and one write; one ``epoll_wait`` per ~7 events (plus uvloop's
``epoll_pwait`` on the reactor's fd; HAProxy: ``epoll_wait`` and two ``clock_gettime`` per
~5 events); four data segments per request and no pure ACK (``nstat``), so ``TCP_QUICKACK``,
``TCP_NODELAY`` off and smaller socket buffers change nothing (measured). Kernel time,
~12 us per request, is the same for both: mostly the loopback TCP path, the peer's receive
run in the sender's softirq. The difference is user time, ~2.0 us per request against
HAProxy's ~1.3 (keep-alive ~0.94x HAProxy per core; the engine before this hot path: ~2.6 us,
~0.91x): a GIL release and re-take around each syscall, ~50 bytecodes per event, epoll's
result tuples and the handler lookup, a bytes object per read. Measured against it and not
kept (both proxies on one core at once, ratios of CPU per request): socket methods instead
of ``os.read``/``os.write`` (equal: they parse a tuple and a format string per call, and
read/write pay the VFS layer in the kernel instead); ``recv_into`` a shared buffer + a
memoryview slice (-0.2%, and 256 KiB reads were an mmap each); reading on to EAGAIN (-15%:
a syscall and an exception per message); ``splice`` for small messages (-11%); polling the
epoll set again before going back to the loop (+-0).

Why not asyncio Protocols/Transports: a uvloop Protocol relay was measured against an earlier
version of this engine on the benchmark machine: a little cheaper for keep-alive
request/response (uvloop's C read path, ~2.0 vs ~2.8 us of user time per request; this
version is at ~2.0), but much dearer per new connection (``create_connection`` coroutine and
transport setup: ~130-160 vs ~85-95 us per proxied connection), and a transport cannot splice.

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
from svcnet.proxy.userspace.reactor import EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP, Reactor, reactor_for
from svcnet.proxy.userspace.relay import CompiledRelay, engine_name, relay_for

__all__ = ["COPY_CHUNK", "DIAL_TIMEOUTS", "PipePool", "TcpListener", "TcpOptions"]

log = logging.getLogger(__name__)

#: upstream userspace ``endpointDialTimeout``: at most four attempts, 3.75 s in total
DIAL_TIMEOUTS = (0.25, 0.5, 1.0, 2.0)
#: copy-mode read size: a bulk stream fills it and switches to splice. ``os.read`` allocates
#: this much (then shrinks it to what was read): 64 KiB stays on the heap (glibc's default
#: mmap threshold is 128 KiB) -- a 256 KiB read costs an mmap+munmap per call
COPY_CHUNK = 64 * 1024
#: a pump's first read size: the bytes object (33 bytes of header) fits pymalloc's 512-byte
#: blocks, no libc malloc per message; a message that fills it makes the pump read
#: COPY_CHUNK from then on (see _Pump._grow)
SMALL_READ = 512 - 33
#: splice calls per readiness event before yielding to other connections
SPLICE_BUDGET = 8
#: at most this many connections accepted per readiness event (fairness vs. batching)
ACCEPT_BATCH = 64
#: out of file descriptors: stop accepting for this long (the listener is level-triggered,
#: so accepting on would spin on the connection that cannot be accepted)
ACCEPT_PAUSE = 0.1
_ACCEPT_RESOURCE_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

_Sock = socket.SocketType  # the C socket type: no Python-level __init__ per connection
_STREAM_NB = socket.SOCK_STREAM | socket.SOCK_NONBLOCK
_LINGER0 = struct.pack("ii", 1, 0)
#: bytes move with os.read/os.write on the fds (both non-blocking): argument-clinic fast calls,
#: cheaper than the socket methods' tuple-and-format argument parsing
_read = os.read
_write = os.write
_TCP_INFO = getattr(socket, "TCP_INFO", 11)
_TCP_ESTABLISHED = 1  # include/net/tcp_states.h
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_HAVE_SPLICE = hasattr(os, "splice")
_READ_EVENTS = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR
#: the usual event of a relayed socket: readable (edge-triggered epoll reports writable too)
_IN_OUT = EPOLLIN | EPOLLOUT
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


class _Pump:
    """One direction of a session: reads ``src``, writes ``dst``.

    ``on_event`` is the reactor handler of the fd the pump reads: readable -> read and forward;
    writable -> the *peer* pump (which writes to that fd) flushes if it is blocked. ``stop``
    is ``blocked or eof or session closed``.
    """

    __slots__ = (
        "blocked", "dfd", "done", "dst", "eof", "inbound", "inpipe", "nbytes", "peer", "pending",
        "pipe", "rdhup", "rsize", "sess", "sfd", "splice", "src", "stop",
    )

    def __init__(self, sess: _Session, src: Any, dst: Any, sfd: int, dfd: int, inbound: bool, splice: bool) -> None:
        self.sess = sess
        self.src = src
        self.dst = dst
        self.sfd = sfd
        self.dfd = dfd
        self.inbound = inbound
        self.splice = splice
        self.peer: _Pump | None = None
        self.pipe: tuple[int, int] | None = None
        self.inpipe = 0
        self.pending: bytes | None = None
        self.blocked = False
        self.eof = False
        self.done = False
        self.stop = False
        self.rsize = SMALL_READ
        self.rdhup = 0  # EPOLLRDHUP once an event said the FIN is queued behind the data
        self.nbytes = 0  # not yet added to the stats (see flush_stats)

    def on_read(self) -> None:
        """Read on by itself (no new edge will come): once and forward, see :meth:`on_event`."""
        self.on_event(EPOLLIN | self.rdhup)

    def on_event(self, ev: int) -> None:
        """Readable: read once and forward. Writable: flush the peer pump if it is blocked on
        this fd. The usual event -- ``EPOLLIN|EPOLLOUT`` (edge-triggered epoll reports the
        whole mask), nothing pending either way, a short read, all written -- takes the
        fewest bytecodes (an int compare is cheaper than ``&``); the rest goes to _on_other.
        The write below repeats _forward's common case on purpose: it saves a method call on
        the path every keep-alive request takes twice, where user time is what separates this
        proxy from HAProxy (docs/benchmarks.md)."""
        if ev != _IN_OUT or self.stop or self.splice or self.peer.blocked:  # type: ignore[union-attr]
            self._on_other(ev)
            return
        try:
            data = _read(self.sfd, self.rsize)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self.sess.abort(e)
            return
        n = len(data)
        if n and n < self.rsize:
            self.nbytes += n
            try:
                m = _write(self.dfd, data)
            except (BlockingIOError, InterruptedError):
                m = 0
            except OSError as e:
                self.sess.abort(e)
                return
            if m < n:
                self.pending = data[m:]
                self.blocked = self.stop = True
        else:
            self._forward(data, ev)

    def _on_other(self, ev: int) -> None:
        if ev & EPOLLRDHUP:
            # the FIN is queued behind the data: a short read reaches it, and on_read (after a
            # full read, or when unblocked: no new edge will come) is told so
            self.rdhup = EPOLLRDHUP
        if ev & _READ_EVENTS and not self.stop:
            if self.splice:
                self._read_splice()
            else:
                try:
                    data = _read(self.sfd, self.rsize)
                except (BlockingIOError, InterruptedError):
                    data = None
                except OSError as e:
                    self.sess.abort(e)
                    return
                if data is not None:
                    self._forward(data, ev)
        peer = self.peer
        if peer is not None and peer.blocked and ev & EPOLLOUT and not self.sess.closed:
            peer.on_writable()

    def _forward(self, data: bytes, ev: int) -> None:
        """Write what a read returned (``b""``: EOF). With EPOLLRDHUP in ``ev`` the peer's
        FIN had arrived when the event was reported, so a short read leaves only the EOF --
        no second read to learn it."""
        n = len(data)
        if not n:
            self._eof()
            return
        if n == self.rsize and n < COPY_CHUNK:
            try:
                data = self._grow(data)
            except OSError as e:
                self.sess.abort(e)
                return
            n = len(data)
        self.nbytes += n
        try:
            m = _write(self.dfd, data)
        except (BlockingIOError, InterruptedError):
            m = 0
        except OSError as e:
            self.sess.abort(e)
            return
        if m < n:
            self.pending = data[m:]
            self.blocked = self.stop = True
            if ev & EPOLLRDHUP and n < self.rsize:  # read to the FIN: flushed, then shut, by on_writable
                self.eof = True
        elif n == COPY_CHUNK:  # a full read: more is queued, and no new edge will say so
            if self.sess.listener.auto_splice:
                self.splice = True  # a stream: zero-copy from now on
            self.sess.reactor.soon(self.on_read)
        elif ev & EPOLLRDHUP:
            self._eof()

    def _grow(self, data: bytes) -> bytes:
        """A message filled the small first read: read the rest of it now (one write for the
        whole message) and COPY_CHUNK at a time from now on."""
        self.rsize = COPY_CHUNK
        try:
            return data + _read(self.sfd, COPY_CHUNK - len(data))
        except (BlockingIOError, InterruptedError):
            return data

    def _read_splice(self) -> None:
        pipe = self.pipe
        if pipe is None:
            pipe = self.pipe = self.sess.listener.pipes.get()
        size = self.sess.listener.pipes.size
        splice = os.splice
        for _ in range(SPLICE_BUDGET):
            try:
                n = splice(self.sfd, pipe[1], size, flags=_SPLICE_FLAGS)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.sess.abort(e)
                return
            if not n:
                self._eof()
                return
            self.nbytes += n
            self.inpipe = n
            if self._flush_pipe():
                self.blocked = self.stop = True
                return
            if self.sess.closed:
                return
        self.sess.reactor.soon(self.on_read)

    def _flush_pipe(self) -> bool:
        """Move the pipe's bytes to ``dst``; True if some are left (``dst`` is full)."""
        pipe = self.pipe
        while self.inpipe:
            try:
                m = os.splice(pipe[0], self.dfd, self.inpipe, flags=_SPLICE_FLAGS)  # type: ignore[index]
            except (BlockingIOError, InterruptedError):
                return True
            except OSError as e:
                self.sess.abort(e)
                return False
            self.inpipe -= m
        return False

    def on_writable(self) -> None:
        if not self.blocked or self.sess.closed:
            return
        data = self.pending
        if data is not None:
            try:
                m = _write(self.dfd, data)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                self.sess.abort(e)
                return
            if m < len(data):
                self.pending = data[m:]
                return
            self.pending = None
        if self.inpipe and (self._flush_pipe() or self.sess.closed):
            return
        self.blocked = False
        if self.eof:
            self._shut()
        else:
            self.stop = False
            self.on_read()  # bytes that arrived while blocked raised no new edge

    def _eof(self) -> None:
        self.eof = self.stop = True
        if not self.blocked:
            self._shut()

    def _shut(self) -> None:
        self.done = True
        sess = self.sess
        other = sess.b2c if self.inbound else sess.c2b
        if other is None or other.done:
            sess.close()
            return
        try:
            self.dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def release(self) -> None:
        if self.pipe is not None:
            self.sess.listener.pipes.put(self.pipe, empty=not self.inpipe)
            self.pipe = None


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
        self.c2b: _Pump | None = None
        self.b2c: _Pump | None = None
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
                if ev & _READ_EVENTS:
                    self.b2c.on_event(ev & (_READ_EVENTS | EPOLLRDHUP))

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
            # from here on the relay owns both fds; the socket objects let go of them
            self.csock.detach()
            self.bsock.detach()
            self.csock = self.bsock = None
            self.relay = relay
            relay.add(self.cfd, self.bfd, self)
            return
        splice = self.listener.always_splice
        cfd = self.cfd
        bfd = self.bfd
        self.c2b = c2b = _Pump(self, self.csock, self.bsock, cfd, bfd, True, splice)
        self.b2c = b2c = _Pump(self, self.bsock, self.csock, bfd, cfd, False, splice)
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
            self.relay.abort(self.cfd)  # reports back through relay_finished
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for s, fd in ((self.csock, self.cfd), (self.bsock, self.bfd)):
            if s is None:
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
        use_splice = _HAVE_SPLICE and opts.splice != "never"
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
        for _ in range(ACCEPT_BATCH):
            try:
                fd, client = sock._accept()
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
            csock = _Sock(family, socket.SOCK_STREAM, 0, fd)
            csock.setblocking(False)  # accept4() without SOCK_NONBLOCK: one ioctl
            if self._allowed and not self._source_allowed(client[0]):
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
