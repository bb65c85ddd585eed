"""The versioned object store interface, and the watch machinery every backend shares.

Theory of operation
-------------------
A store keeps API objects (JSON dicts) under ``(resource, namespace, name)``. Every write
(create, update, delete) takes the next value of one global, strictly increasing **revision**
and records an :class:`Event`; the object's ``metadata.resourceVersion`` is that revision as a
string, exactly like etcd's mod_revision behind a kube-apiserver.

Rules every backend keeps (the conformance tests in ``tests/store`` check them):

1. A write is atomic: either the object and its event are both recorded, or neither is.
2. ``update``/``delete`` with a ``resourceVersion`` (or ``expect_rv``) that is not the current
   one raise :class:`~svcnet.api.errors.Conflict`; without one they are unconditional.
3. ``watch(since=N)`` delivers every event with revision > N in revision order, none lost, none
   twice. If events after N have been compacted away it raises
   :class:`~svcnet.api.errors.Expired` (HTTP 410). ``since=None`` first delivers one synthetic
   ``ADDED`` per existing object (at the current revision), then live events, with no gap.
4. A watcher that falls more than ``max_pending`` events behind is closed with
   ``error = Expired``; its consumer relists (what a kube-apiserver does to slow watchers).
5. Objects handed out by ``get``/``list`` are the caller's to mutate. Objects inside events are
   shared by every watcher: treat them as read-only.

After ``close()`` every open watch has ended, and reads, writes and new watches raise
:class:`~svcnet.api.errors.ServiceUnavailable`.

Backends: :mod:`svcnet.store.memory` (tests) and :mod:`svcnet.store.sqlite` (the default).
An etcd backend implements the same :class:`Store` protocol. Both local backends also offer
``list_raw(resource, namespace)`` - ``list`` with each object as its stored JSON bytes - which is
not part of the protocol (an API server may use it when present to skip a parse/serialise).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from svcnet.api.errors import APIError, Expired

__all__ = [
    "ADDED",
    "DELETED",
    "MODIFIED",
    "Event",
    "EventLog",
    "Store",
    "Watch",
    "WatchHub",
    "object_key",
]

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"

#: how many events a watcher may have queued before it is dropped as too slow
DEFAULT_MAX_PENDING = 200_000


def object_key(obj: dict) -> tuple[str, str]:
    """``(namespace, name)`` of an object; namespace is ``""`` for cluster-scoped objects."""
    md = obj.get("metadata") or {}
    return md.get("namespace") or "", md.get("name") or ""


@dataclass(frozen=True, slots=True)
class Event:
    """One recorded write. ``object`` carries ``resourceVersion == str(revision)``."""

    revision: int
    type: str  # ADDED | MODIFIED | DELETED
    resource: str
    namespace: str
    name: str
    object: dict
    #: the object's state before this write (None for ADDED); lets a filtered watch tell an
    #: object leaving its selector (sent as DELETED) from one that still matches
    prev: dict | None = None

    def as_watch_event(self) -> dict:
        """The Kubernetes watch-stream frame: ``{"type": ..., "object": ...}``."""
        return {"type": self.type, "object": self.object}


@runtime_checkable
class Store(Protocol):
    """What every backend offers. All methods are thread-safe and may block briefly."""

    def get(self, resource: str, namespace: str, name: str) -> dict:
        """The stored object. Raises NotFound."""

    def list(self, resource: str, namespace: str | None = None) -> tuple[list[dict], int]:
        """All objects of a resource (in one namespace, or all with None) and the revision
        they were read at, ordered by (namespace, name)."""

    def create(self, resource: str, obj: dict) -> dict:
        """Store a new object; returns it with its resourceVersion. Raises AlreadyExists."""

    def update(self, resource: str, obj: dict) -> dict:
        """Replace an object. Conditional on ``metadata.resourceVersion`` when it is set.
        Raises NotFound, Conflict."""

    def delete(self, resource: str, namespace: str, name: str, *, expect_rv: str | None = None) -> dict:
        """Remove an object; returns its last state with the deletion's resourceVersion.
        Raises NotFound, Conflict."""

    def watch(
        self,
        resource: str | None,
        namespace: str | None = None,
        since: int | None = None,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> "Watch":
        """Events of one resource (None: all), optionally one namespace. Raises Expired."""

    def revision(self) -> int:
        """The revision of the last write (0 for an empty store)."""

    def oldest_revision(self) -> int:
        """The lowest ``since`` a watch can start from without Expired."""

    def close(self) -> None:
        """Release files and end every open watch. Idempotent."""


class Watch:
    """A stream of events for one consumer.

    Filled by the store (under the store's lock) and drained by the consumer, from a thread
    (:meth:`get`) or from asyncio (``async for ev in watch``). ``close()`` may be called from
    either side. When the store drops the watcher, ``error`` tells why (an :class:`APIError`).
    """

    def __init__(
        self,
        resource: str | None,
        namespace: str | None,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        on_close: Callable[["Watch"], None] | None = None,
    ):
        self.resource = resource
        self.namespace = namespace
        self.max_pending = max_pending
        self.error: APIError | None = None
        self._pending: deque[Event] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._wakers: list[Callable[[], None]] = []
        self._on_close = on_close

    # -- producer side -------------------------------------------------------------------

    def matches(self, ev: Event) -> bool:
        return (self.resource is None or ev.resource == self.resource) and (
            not self.namespace or ev.namespace == self.namespace
        )

    def push(self, events: Iterable[Event]) -> None:
        with self._cond:
            if self._closed:
                return
            for ev in events:
                self._pending.append(ev)
            if len(self._pending) > self.max_pending:
                self._pending.clear()
                self.error = Expired("watch consumer fell too far behind; relist required")
                self._closed = True
            self._cond.notify_all()
            wakers = list(self._wakers)
        for w in wakers:
            w()

    # -- consumer side -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def drain(self) -> list[Event]:
        """Every queued event, without blocking."""
        with self._cond:
            out = list(self._pending)
            self._pending.clear()
            return out

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event; None when the timeout passes or the watch is closed and empty."""
        with self._cond:
            if not self._pending and not self._closed:
                self._cond.wait(timeout)
            if self._pending:
                return self._pending.popleft()
            return None

    def close(self, error: APIError | None = None) -> None:
        with self._cond:
            if self._closed:
                return
            self._closed = True
            if error is not None and self.error is None:
                self.error = error
            self._cond.notify_all()
            wakers = list(self._wakers)
        for w in wakers:
            w()
        if self._on_close is not None:
            self._on_close(self)

    def add_waker(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` (from the writer's thread) whenever events arrive or the watch closes."""
        with self._cond:
            self._wakers.append(fn)

    def remove_waker(self, fn: Callable[[], None]) -> None:
        with self._cond:
            if fn in self._wakers:
                self._wakers.remove(fn)

    async def __aiter__(self) -> AsyncIterator[Event]:
        """Events as they come; ends when the watch closes (check ``error`` afterwards)."""
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()

        def wake() -> None:
            try:
                loop.call_soon_threadsafe(ready.set)
            except RuntimeError:  # loop closed
                pass

        self.add_waker(wake)
        try:
            while True:
                # one at a time: a consumer that breaks out of the loop leaves the rest queued
                with self._cond:
                    ev = self._pending.popleft() if self._pending else None
                if ev is not None:
                    yield ev
                    continue
                if self._closed:
                    return
                ready.clear()
                if self._pending or self._closed:
                    continue
                await ready.wait()
        finally:
            self.remove_waker(wake)


class EventLog:
    """The most recent events, for watches that resume from a revision.

    ``compacted`` is the highest revision whose event is no longer held: a watch from any
    revision below it has missed events and gets Expired.
    """

    def __init__(self, capacity: int, compacted: int = 0):
        self.capacity = capacity
        self.compacted = compacted
        self._events: deque[Event] = deque()

    def append(self, ev: Event) -> None:
        self._events.append(ev)
        while len(self._events) > self.capacity:
            dropped = self._events.popleft()
            self.compacted = dropped.revision

    def since(self, revision: int) -> list[Event]:
        """Events with revision > ``revision``. Raises Expired if some were compacted away."""
        if revision < self.compacted:
            # upstream prints the oldest resumable revision, i.e. (first held event) - 1:
            # staging/src/k8s.io/apiserver/pkg/storage/cacher/watch_cache.go getAllEventsSinceLocked
            raise Expired.too_old(revision, self.compacted)
        if not self._events or revision >= self._events[-1].revision:
            return []
        # events are in revision order; find the first one after `revision`
        lo, hi = 0, len(self._events)
        evs = self._events
        while lo < hi:
            mid = (lo + hi) // 2
            if evs[mid].revision <= revision:
                lo = mid + 1
            else:
                hi = mid
        return [evs[i] for i in range(lo, len(evs))]

    @property
    def oldest_resumable(self) -> int:
        return self.compacted


class WatchHub:
    """Fan-out of recorded events to open watches; backends call :meth:`publish` after commit.

    The caller holds the store lock around :meth:`open` and :meth:`publish`, so a new watch's
    backlog and the live events that follow it never overlap or leave a gap.
    """

    def __init__(self) -> None:
        self._watches: set[Watch] = set()
        self._lock = threading.Lock()

    def open(self, watch: Watch, backlog: list[Event]) -> Watch:
        watch._on_close = self._forget
        if backlog:
            watch.push([ev for ev in backlog if watch.matches(ev)])
        if watch.closed:  # its backlog alone overflowed max_pending: never register it
            return watch
        with self._lock:
            self._watches.add(watch)
        return watch

    def wants(self, resource: str, namespace: str) -> bool:
        """Whether an event of this resource and namespace would reach any open watch (so a
        backend can skip building event objects nobody reads). Same matching as
        :meth:`Watch.matches`."""
        with self._lock:
            for w in self._watches:
                if (w.resource is None or w.resource == resource) and (
                    not w.namespace or w.namespace == namespace
                ):
                    return True
        return False

    def publish(self, ev: Event) -> None:
        with self._lock:
            targets = [w for w in self._watches if w.matches(ev)]
        for w in targets:
            w.push((ev,))
            if w.closed:
                self._forget(w)

    def close_all(self, error: APIError | None = None) -> None:
        with self._lock:
            ws = list(self._watches)
            self._watches.clear()
        for w in ws:
            w.close(error)

    def _forget(self, watch: Watch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def __len__(self) -> int:
        return len(self._watches)
