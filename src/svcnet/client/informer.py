"""Informers: list, then watch from the list's resourceVersion, keep a local cache, call handlers.

Theory of operation
-------------------
:class:`InformerCore` holds all the decisions and no I/O (the dnspython ``_Resolution`` shape):

- :meth:`InformerCore.next_request` says what to do next: ``("list", None)`` or
  ``("watch", resource_version)``.
- :meth:`InformerCore.list_result` replaces the cache with a fresh list and returns the
  notifications that turn the old cache into the new one (adds, updates, deletes), so handlers
  see a relist as ordinary events. An object whose resourceVersion did not change produces
  nothing: **no event is applied twice**.
- :meth:`InformerCore.watch_event` applies one watch frame. A frame whose object is not newer
  than the cached copy is dropped (a watch resumed from an older version replays nothing twice).
  BOOKMARK frames only move the resume point.
- :meth:`InformerCore.watch_ended` takes the reason a watch ended, as a value: an ``Expired``
  (410) forces a relist, anything else resumes the watch from the last version seen.

:class:`Informer` is the thin asyncio driver around it: it calls the client, feeds results to
the core, backs off on errors (0.1 s doubling to 5 s) and calls the handlers. Handlers are plain
callables run on the event loop: ``on_add(obj)``, ``on_update(old, new)``, ``on_delete(obj)``;
they must not block. Cached objects are shared: copy before mutating.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from svcnet.api.errors import Expired
from svcnet.client.base import Client, resource_type

__all__ = ["Informer", "InformerCore", "Notification", "object_key"]

log = logging.getLogger(__name__)


def object_key(obj: dict) -> tuple[str, str]:
    md = obj.get("metadata") or {}
    return md.get("namespace") or "", md.get("name") or ""


def _rv(obj: dict | None) -> int:
    try:
        return int((obj or {}).get("metadata", {}).get("resourceVersion") or 0)
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True, slots=True)
class Notification:
    """``type`` is add, update or delete; ``old`` is None for add, ``new`` None for delete."""

    type: str
    old: dict | None
    new: dict | None


@dataclass
class InformerCore:
    """The informer's state machine: cache, resume point and what to do next."""

    cache: dict[tuple[str, str], dict] = field(default_factory=dict)
    #: the same objects by namespace, then name: ``Informer.list(ns)`` must not scan every
    #: namespace (a controller lists a namespace's Services on each Pod event; with 10,000
    #: Services and 100,000 Pods a full scan per call dominated the whole control plane)
    by_namespace: dict[str, dict[str, dict]] = field(default_factory=dict)
    resource_version: str | None = None
    synced: bool = False
    need_list: bool = True

    def next_request(self) -> tuple[str, str | None]:
        if self.need_list or self.resource_version is None:
            return ("list", None)
        return ("watch", self.resource_version)

    def list_result(self, lst: dict) -> list[Notification]:
        items = lst.get("items") or []
        out: list[Notification] = []
        fresh: dict[tuple[str, str], dict] = {}
        for obj in items:
            k = object_key(obj)
            fresh[k] = obj
            old = self.cache.get(k)
            if old is None:
                out.append(Notification("add", None, obj))
            elif _rv(old) != _rv(obj):
                out.append(Notification("update", old, obj))
        for k, old in self.cache.items():
            if k not in fresh:
                out.append(Notification("delete", old, None))
        self.cache = fresh
        by_ns: dict[str, dict[str, dict]] = {}
        for (ns, name), obj in fresh.items():
            by_ns.setdefault(ns, {})[name] = obj
        self.by_namespace = by_ns
        self.resource_version = (lst.get("metadata") or {}).get("resourceVersion") or "0"
        self.need_list = False
        self.synced = True
        return out

    def watch_event(self, frame: dict) -> list[Notification]:
        typ = frame.get("type")
        obj = frame.get("object") or {}
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if typ == "BOOKMARK":
            if rv:
                self.resource_version = rv
            return []
        k = object_key(obj)
        old = self.cache.get(k)
        if rv:
            self.resource_version = rv
        if typ in ("ADDED", "MODIFIED"):
            if old is not None and _rv(old) >= _rv(obj):
                return []  # already applied (resumed watch replay)
            self.cache[k] = obj
            self.by_namespace.setdefault(k[0], {})[k[1]] = obj
            return [Notification("add", None, obj) if old is None else Notification("update", old, obj)]
        if typ == "DELETED":
            if old is None:
                return []
            del self.cache[k]
            names = self.by_namespace.get(k[0])
            if names is not None:
                names.pop(k[1], None)
                if not names:
                    del self.by_namespace[k[0]]
            return [Notification("delete", old, None)]
        return []

    def watch_ended(self, exc: BaseException | None) -> None:
        """Record why the watch ended. Expired → relist; otherwise resume from the last version."""
        if isinstance(exc, Expired):
            self.need_list = True


Handler = Callable[..., Any]


class Informer:
    """List+watch one resource into a cache and call handlers on changes."""

    def __init__(
        self,
        client: Client,
        resource: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        name: str | None = None,
    ):
        self.client = client
        self.rt = resource_type(resource)
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.name = name or self.rt.name
        self.core = InformerCore()
        self._handlers: list[tuple[Handler | None, Handler | None, Handler | None]] = []
        self._synced = asyncio.Event()
        self._task: asyncio.Task | None = None
        #: counters, handy in tests and metrics: lists, watches started, events applied
        self.stats = {"lists": 0, "watches": 0, "events": 0}

    # -- cache access ------------------------------------------------------------------------

    def get(self, namespace: str | None, name: str) -> dict | None:
        return self.core.cache.get((namespace or "", name))

    def list(self, namespace: str | None = None) -> list[dict]:
        if namespace is None:
            return list(self.core.cache.values())
        return list(self.core.by_namespace.get(namespace, {}).values())

    def __len__(self) -> int:
        return len(self.core.cache)

    @property
    def has_synced(self) -> bool:
        return self.core.synced

    async def wait_synced(self, timeout: float | None = None) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._synced.wait()
            return True
        except TimeoutError:
            return False

    def add_handler(
        self,
        on_add: Handler | None = None,
        on_update: Handler | None = None,
        on_delete: Handler | None = None,
    ) -> None:
        """Register handlers; objects already cached are delivered to ``on_add`` at once."""
        self._handlers.append((on_add, on_update, on_delete))
        if on_add is not None:
            for obj in list(self.core.cache.values()):
                on_add(obj)

    # -- driver ------------------------------------------------------------------------------

    def start(self) -> asyncio.Task:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name=f"informer-{self.name}")
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def run(self) -> None:
        backoff = 0.1
        while True:
            what, rv = self.core.next_request()
            try:
                if what == "list":
                    lst = await self.client.list(
                        self.rt,
                        self.namespace,
                        all_namespaces=self.namespace is None,
                        label_selector=self.label_selector,
                        field_selector=self.field_selector,
                    )
                    self.stats["lists"] += 1
                    self._dispatch(self.core.list_result(lst))
                    self._synced.set()
                else:
                    self.stats["watches"] += 1
                    async for frame in self.client.watch(
                        self.rt,
                        self.namespace,
                        resource_version=rv,
                        label_selector=self.label_selector,
                        field_selector=self.field_selector,
                        allow_bookmarks=True,
                    ):
                        self._dispatch(self.core.watch_event(frame))
                        backoff = 0.1
                    self.core.watch_ended(None)
                backoff = 0.1
                continue
            except asyncio.CancelledError:
                raise
            except Expired as e:
                log.info("informer %s: %s; relisting", self.name, e)
                self.core.watch_ended(e)
                continue
            except Exception as e:  # transport errors: back off, then resume
                log.debug("informer %s: %s: %s", self.name, type(e).__name__, e)
                self.core.watch_ended(e)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    def _dispatch(self, notes: list[Notification]) -> None:
        for n in notes:
            self.stats["events"] += 1
            for on_add, on_update, on_delete in self._handlers:
                try:
                    if n.type == "add" and on_add is not None:
                        on_add(n.new)
                    elif n.type == "update" and on_update is not None:
                        on_update(n.old, n.new)
                    elif n.type == "delete" and on_delete is not None:
                        on_delete(n.old)
                except Exception:  # a handler bug must not kill the informer
                    log.exception("informer %s: handler failed", self.name)
