"""An in-memory :class:`~svcnet.store.base.Store`: the reference backend, used by tests.

Objects are kept serialised (orjson bytes), so every read hands out a fresh copy and nothing a
caller does to a returned dict can change the store.
"""

from __future__ import annotations

import threading

import orjson

from svcnet.api.errors import AlreadyExists, Conflict, NotFound, ServiceUnavailable
from svcnet.api.resources import by_name
from svcnet.store.base import (
    ADDED,
    DEFAULT_MAX_PENDING,
    DELETED,
    MODIFIED,
    Event,
    EventLog,
    Watch,
    WatchHub,
    object_key,
)

__all__ = ["MemoryStore"]


def _gr(resource: str) -> tuple[str, str]:
    try:
        r = by_name(resource)
        return r.name, r.group
    except KeyError:
        return resource, ""


class MemoryStore:
    """All state in dicts; events in a bounded :class:`EventLog`."""

    def __init__(self, *, history: int = 100_000):
        self._lock = threading.RLock()
        self._rev = 0
        # resource -> {(namespace, name): (revision, bytes)}
        self._objects: dict[str, dict[tuple[str, str], tuple[int, bytes]]] = {}
        self._log = EventLog(history)
        self._hub = WatchHub()
        self._closed = False

    # -- reads ---------------------------------------------------------------------------

    def get(self, resource: str, namespace: str, name: str) -> dict:
        with self._lock:
            self._check_open()
            hit = self._objects.get(resource, {}).get((namespace or "", name))
        if hit is None:
            g = _gr(resource)
            raise NotFound.of(g[0], name, g[1])
        return orjson.loads(hit[1])

    def list_raw(self, resource: str, namespace: str | None = None) -> tuple[list[bytes], int]:
        """Like :meth:`list`, but each object as its stored JSON bytes (no parse, no copy)."""
        with self._lock:
            self._check_open()
            objs = self._objects.get(resource, {})
            if namespace:
                keys = sorted(k for k in objs if k[0] == namespace)
            else:
                keys = sorted(objs)
            return [objs[k][1] for k in keys], self._rev

    def list(self, resource: str, namespace: str | None = None) -> tuple[list[dict], int]:
        raw, rev = self.list_raw(resource, namespace)
        return [orjson.loads(b) for b in raw], rev

    def revision(self) -> int:
        return self._rev

    def oldest_revision(self) -> int:
        return self._log.oldest_resumable

    # -- writes --------------------------------------------------------------------------

    def create(self, resource: str, obj: dict) -> dict:
        ns, name = object_key(obj)
        with self._lock:
            self._check_open()
            objs = self._objects.setdefault(resource, {})
            if (ns, name) in objs:
                g = _gr(resource)
                raise AlreadyExists.of(g[0], name, g[1])
            return self._commit(resource, ns, name, obj, ADDED)

    def update(self, resource: str, obj: dict) -> dict:
        ns, name = object_key(obj)
        want = (obj.get("metadata") or {}).get("resourceVersion")
        with self._lock:
            self._check_open()
            cur = self._objects.get(resource, {}).get((ns, name))
            g = _gr(resource)
            if cur is None:
                raise NotFound.of(g[0], name, g[1])
            if want and str(want) != str(cur[0]):
                raise Conflict.stale(g[0], name, g[1])
            return self._commit(resource, ns, name, obj, MODIFIED)

    def delete(self, resource: str, namespace: str, name: str, *, expect_rv: str | None = None) -> dict:
        ns = namespace or ""
        with self._lock:
            self._check_open()
            objs = self._objects.get(resource, {})
            cur = objs.get((ns, name))
            g = _gr(resource)
            if cur is None:
                raise NotFound.of(g[0], name, g[1])
            if expect_rv and str(expect_rv) != str(cur[0]):
                raise Conflict.stale(g[0], name, g[1])
            obj = orjson.loads(cur[1])
            return self._commit(resource, ns, name, obj, DELETED)

    def _commit(self, resource: str, ns: str, name: str, obj: dict, kind: str) -> dict:
        self._rev += 1
        rev = self._rev
        stored = orjson.loads(orjson.dumps(obj))
        stored.setdefault("metadata", {})["resourceVersion"] = str(rev)
        raw = orjson.dumps(stored)
        objs = self._objects.setdefault(resource, {})
        old = objs.get((ns, name))
        prev = orjson.loads(old[1]) if old is not None else None
        if kind == DELETED:
            del objs[(ns, name)]
        else:
            objs[(ns, name)] = (rev, raw)
        ev = Event(rev, kind, resource, ns, name, orjson.loads(raw), prev)
        self._log.append(ev)
        self._hub.publish(ev)
        return stored

    # -- watch ---------------------------------------------------------------------------

    def watch(
        self,
        resource: str | None,
        namespace: str | None = None,
        since: int | None = None,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
    ) -> Watch:
        w = Watch(resource, namespace, max_pending=max_pending)
        with self._lock:
            self._check_open()
            if since is None:
                backlog = []
                resources = [resource] if resource else sorted(self._objects)
                for res in resources:
                    for (ns, name), (_rev, raw) in sorted(self._objects.get(res, {}).items()):
                        if namespace and ns != namespace:
                            continue
                        backlog.append(Event(self._rev, ADDED, res, ns, name, orjson.loads(raw)))
            else:
                backlog = self._log.since(since)
            return self._hub.open(w, backlog)

    def _check_open(self) -> None:
        if self._closed:
            raise ServiceUnavailable("store is closed")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """End every open watch; later reads, writes and watches raise ServiceUnavailable."""
        with self._lock:
            self._closed = True
        self._hub.close_all()

    def __enter__(self) -> "MemoryStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
