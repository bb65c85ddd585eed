"""One epoll set for the whole data plane, driven from the asyncio event loop.

Theory of operation
-------------------
The data plane needs readiness events for many short-lived sockets. Registering each socket
with the event loop (``loop.add_reader``/``add_writer``) costs, in uvloop/libuv, a
``uv_poll_t`` per fd, an ``ioctl`` and two ``epoll_ctl`` calls per interest change; a proxied
connection changes interest several times. Instead, a :class:`Reactor` owns its own epoll set
and registers **each socket once**, for reads and writes, usually **edge-triggered**; closing the
socket removes it from the set. The asyncio loop sees only the reactor's epoll fd (one
``add_reader``); when it is readable, :meth:`Reactor._run` fetches up to :data:`MAX_EVENTS`
events with a zero-timeout ``epoll_wait`` and calls ``handler(events)`` for each fd.

Rules for handlers:

1. A handler may be called with events it is not waiting for (an edge-triggered epoll reports
   the whole current mask, e.g. EPOLLOUT with every EPOLLIN); it must check its own state.
2. Edge-triggered: a handler that does not drain a readable socket (a full read, or reading
   paused by back-pressure) must come back to it on its own -- :meth:`Reactor.soon` -- because
   no new edge will come for bytes already queued.
3. Sockets closed while a batch of events is being dispatched are closed only after the batch
   (:meth:`Reactor.close`), so an fd number cannot be reused by a new socket and receive a
   stale event of the old one within the same batch.

There is one reactor per event loop (:func:`reactor_for`), shared by every listener of every
proxier in the process. It needs Linux epoll.
"""

from __future__ import annotations

import asyncio
import select
import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["EPOLLERR", "EPOLLET", "EPOLLHUP", "EPOLLIN", "EPOLLOUT", "EPOLLPRI", "EPOLLRDHUP", "MAX_EVENTS", "Reactor", "reactor_for"]

EPOLLIN = select.EPOLLIN
EPOLLOUT = select.EPOLLOUT
EPOLLERR = select.EPOLLERR
EPOLLHUP = select.EPOLLHUP
EPOLLRDHUP = select.EPOLLRDHUP
EPOLLPRI = select.EPOLLPRI
EPOLLET = select.EPOLLET
#: events fetched per readiness callback of the asyncio loop
MAX_EVENTS = 256
#: edge-triggered read+write (and urgent data), the registration of a proxied TCP socket
EDGE_RW = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET

_reactors: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Reactor] = weakref.WeakKeyDictionary()


class Reactor:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # a weak reference: the loop holds the reactor (its reader), not the other way round
        self._loop = weakref.ref(loop)
        self.ep = select.epoll()
        self.handlers: dict[int, Callable[[int], Any]] = {}
        self._dispatching = False
        self._deferred: list[Any] = []
        loop.add_reader(self.ep.fileno(), self._run)

    def register(self, fd: int, handler: Callable[[int], Any], events: int = EDGE_RW) -> None:
        self.handlers[fd] = handler
        self.ep.register(fd, events)

    def modify(self, fd: int, handler: Callable[[int], Any], events: int) -> None:
        self.handlers[fd] = handler
        self.ep.modify(fd, events)

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd`` (which stays open)."""
        if self.handlers.pop(fd, None) is not None:
            try:
                self.ep.unregister(fd)
            except OSError:
                pass

    def close(self, sock: Any, fd: int | None = None) -> None:
        """Forget ``sock`` (whose fd is ``fd``, if the caller knows it) and close it -- after
        the current batch if one is being dispatched."""
        if fd is None:
            fd = sock.fileno()
            if fd < 0:
                return
        self.handlers.pop(fd, None)
        if self._dispatching:
            self._deferred.append(sock)
        else:
            sock.close()

    def soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on a later loop iteration (edge-triggered continuation)."""
        loop = self._loop()
        if loop is not None:
            loop.call_soon(fn, *args)

    def _run(self) -> None:
        try:
            events = self.ep.poll(0, MAX_EVENTS)
        except InterruptedError:
            return
        handlers = self.handlers
        self._dispatching = True
        try:
            for fd, ev in events:
                h = handlers.get(fd)
                if h is not None:
                    h(ev)
        finally:
            self._dispatching = False
            if self._deferred:
                deferred, self._deferred = self._deferred, []
                for sock in deferred:
                    sock.close()

    def shutdown(self) -> None:
        loop = self._loop()
        try:
            if loop is not None:
                loop.remove_reader(self.ep.fileno())
        except Exception:  # the loop may be closed already
            pass
        self.ep.close()
        self.handlers.clear()


def reactor_for(loop: asyncio.AbstractEventLoop | None = None) -> Reactor:
    """The reactor of ``loop`` (the running loop by default), created on first use."""
    loop = loop or asyncio.get_running_loop()
    r = _reactors.get(loop)
    if r is None or r.ep.closed:
        r = _reactors[loop] = Reactor(loop)
    return r
