"""The Python engine of the TCP relay: two pumps per session, one per direction.

What a pump does (read once per edge, back-pressure, splice for streams, half-close, the
remembered ``EPOLLRDHUP``) is step 2-4 of :mod:`svcnet.proxy.userspace.tcp`'s theory of
operation; ``_relay.c`` does the same in C and is preferred when it was built
(:mod:`svcnet.proxy.userspace.relay`). The session (:class:`svcnet.proxy.userspace.tcp._Session`)
owns the sockets, the counters and the end of the session (``close``/``abort``).
"""

from __future__ import annotations

import errno
import os
import socket
from typing import TYPE_CHECKING, Any

from svcnet.proxy.userspace.reactor import EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLPRI, EPOLLRDHUP

if TYPE_CHECKING:
    from svcnet.proxy.userspace.tcp import _Session

__all__ = ["COPY_CHUNK", "HAVE_SPLICE", "READ_EVENTS", "SMALL_READ", "Pump"]

#: copy-mode read size: a bulk stream fills it and switches to splice. ``os.read`` allocates
#: this much (then shrinks it to what was read): 64 KiB stays on the heap (glibc's default
#: mmap threshold is 128 KiB) -- a 256 KiB read costs an mmap+munmap per call
COPY_CHUNK = 64 * 1024
#: a pump's first read size: the bytes object (33 bytes of header) fits pymalloc's 512-byte
#: blocks, no libc malloc per message; a message that fills it makes the pump read
#: COPY_CHUNK from then on (see Pump._grow)
SMALL_READ = 512 - 33
#: splice calls per readiness event before yielding to other connections
SPLICE_BUDGET = 8
#: bytes move with os.read/os.write on the fds (both non-blocking): argument-clinic fast calls,
#: cheaper than the socket methods' tuple-and-format argument parsing
_read = os.read
_write = os.write
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
#: the usual event of a relayed socket: readable (edge-triggered epoll reports writable too)
_IN_OUT = EPOLLIN | EPOLLOUT
#: splice(2) is there (Linux)
HAVE_SPLICE = hasattr(os, "splice")
#: the events a pump reads on (EOF and errors come out of the read)
READ_EVENTS = EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR


class Pump:
    """One direction of a session: reads ``src``, writes ``dst``.

    ``on_event`` is the reactor handler of the fd the pump reads: readable -> read and forward;
    writable -> the *peer* pump (which writes to that fd) flushes if it is blocked. ``stop``
    is ``blocked or eof or session closed``.
    """

    __slots__ = (
        "blocked", "dfd", "done", "dst", "eof", "inbound", "inpipe", "nbytes", "peer", "pending",
        "pipe", "rdhup", "rsize", "sess", "sfd", "splice", "src", "stop", "urg",
    )

    def __init__(self, sess: _Session, src: Any, dst: Any, sfd: int, dfd: int, inbound: bool, splice: bool) -> None:
        self.sess = sess
        self.src = src
        self.dst = dst
        self.sfd = sfd
        self.dfd = dfd
        self.inbound = inbound
        self.splice = splice
        self.peer: Pump | None = None
        self.pipe: tuple[int, int] | None = None
        self.inpipe = 0
        self.pending: bytes | None = None
        self.blocked = False
        self.eof = False
        self.done = False
        self.stop = False
        self.rsize = SMALL_READ
        self.rdhup = 0  # EPOLLRDHUP once an event said the FIN is queued behind the data
        self.urg = 0  # EPOLLPRI while urgent data may stop a read short of the queue's end
        self.nbytes = 0  # not yet added to the stats (see flush_stats)

    def on_read(self) -> None:
        """Read on by itself (no new edge will come): once and forward, see :meth:`on_event`."""
        self.on_event(EPOLLIN | self.rdhup | self.urg)

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
        if ev & EPOLLERR:
            # a reset (or other error) ends the session even when no pump would read or
            # write this socket now (blocked, or after its EOF); bytes queued before it are
            # passed on first (reads return them, then the error)
            sess = self.sess
            while not self.stop and not sess.closed:
                try:
                    data = _read(self.sfd, self.rsize)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as e:
                    sess.abort(e)
                    return
                self._forward(data, 0)
            if not sess.closed:
                err = self.src.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) or errno.ECONNRESET
                sess.abort(OSError(err, os.strerror(err)))
            return
        if ev & EPOLLRDHUP:
            # the FIN is queued behind the data: a read reaches it, and on_read (after a
            # full read, or when unblocked: no new edge will come) is told so
            self.rdhup = EPOLLRDHUP
        if ev & EPOLLPRI:
            self.urg = EPOLLPRI  # urgent data: reads stop at its mark; read on to EAGAIN
        if ev & READ_EVENTS and not self.stop:
            if self.splice and not self.urg:  # splice stops at an urgent mark; read() steps over it
                self._read_splice()
            else:
                try:
                    data = _read(self.sfd, self.rsize)
                except (BlockingIOError, InterruptedError):
                    data = None
                    self.urg = 0
                except OSError as e:
                    self.sess.abort(e)
                    return
                if data is not None:
                    self._forward(data, ev)
        peer = self.peer
        if peer is not None and peer.blocked and ev & EPOLLOUT and not self.sess.closed:
            peer.on_writable()

    def _forward(self, data: bytes, ev: int) -> None:
        """Write what a read returned (``b""``: EOF). A short read drains the socket unless it
        stopped at an urgent mark (EPOLLPRI seen): then no new edge will come, and the pump
        reads on. With EPOLLRDHUP in ``ev`` the FIN had arrived when the event was reported,
        so a short read leaves only the EOF -- no second read to learn it."""
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
            self.blocked = self.stop = True  # on_writable flushes, then reads on
        elif n == COPY_CHUNK:  # a full read: more is queued, and no new edge will say so
            if self.sess.listener.auto_splice:
                self.splice = True  # a stream: zero-copy from now on
            self.sess.reactor.soon(self.on_read)
        elif self.urg:  # the read may have stopped at the urgent mark: read on past it
            self.sess.reactor.soon(self.on_read)
        elif ev & EPOLLRDHUP:  # drained, the FIN queued (urgent data would have come with EPOLLPRI)
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
