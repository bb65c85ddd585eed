"""Events: what components tell users about objects (``kubectl describe``, ``kubectl get events``).

An :class:`EventRecorder` is client-go's event recorder in small: ``record(obj, type, reason,
message)`` returns at once; a background task writes ``core/v1`` Events through the client.
The same (object, type, reason, message) from one recorder again updates the existing Event
(``count`` + 1, ``lastTimestamp``) instead of creating another, as upstream's correlator does
(for the last 4,096 distinct events; one that has expired meanwhile is created again); repeats
within :data:`REPEAT_WRITE_INTERVAL` of the last write are only counted, as a spam filter. The Event is named ``<object name>.<nanoseconds in hex>`` and
lives in the object's namespace (``default`` for cluster-scoped objects), as upstream.

Events are best effort: a full queue (:data:`QUEUE_SIZE`) drops the newest and a failed write
is logged at debug level -- the component never waits for them. Old Events are removed by the
``event-ttl`` controller (``controllers/eventttl.py``), as the API server's one-hour TTL does.
:func:`event_object` is pure.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import time
from collections import OrderedDict

from svcnet.api.errors import APIError, NotFound
from svcnet.api.resources import RESOURCES
from svcnet.client.base import Client

__all__ = ["EventRecorder", "event_object"]

log = logging.getLogger(__name__)

QUEUE_SIZE = 1000
_CACHE_SIZE = 4096
#: repeats of one Event within this many seconds of its last write are counted, not written
#: (the next write carries the count): a pod retried every second is one PATCH per 5 s
REPEAT_WRITE_INTERVAL = 5.0


def _stamp(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _api_version(kind: str) -> str:
    return next((r.api_version for r in RESOURCES if r.kind == kind), "")


def event_object(obj: dict, type_: str, reason: str, message: str, *, component: str, host: str, now: float, kind: str = "") -> dict:
    """A new ``core/v1`` Event about ``obj`` (``kind`` for an object that does not say its
    own: objects from a list do not always, as in client-go, where the scheme knows)."""
    md = obj.get("metadata") or {}
    kind = obj.get("kind") or kind
    ref = {"kind": kind, "name": md.get("name", ""), "apiVersion": obj.get("apiVersion") or _api_version(kind)}
    if md.get("namespace"):
        ref["namespace"] = md["namespace"]
    for k in ("uid", "resourceVersion"):
        if md.get(k):
            ref[k] = md[k]
    source = {"component": component}
    if host:
        source["host"] = host
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{md.get('name', '')}.{time.time_ns():x}", "namespace": md.get("namespace") or "default"},
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": _stamp(now),
        "lastTimestamp": _stamp(now),
        "count": 1,
        "type": type_,
        "eventTime": None,
        "reportingComponent": component,
        "reportingInstance": host,
    }


class EventRecorder:
    def __init__(self, client: Client, component: str, host: str = ""):
        self.client = client
        self.component = component
        self.host = host
        self.queue: asyncio.Queue[tuple[dict, str, str, str, str, float]] | None = None
        self.task: asyncio.Task | None = None
        self.dropped = 0
        self.written = 0
        # (uid or ns/name, kind, type, reason, message) -> (event ns, event name, count, written at)
        self._seen: OrderedDict[tuple, tuple[str, str, int, float]] = OrderedDict()

    def record(self, obj: dict, type_: str, reason: str, message: str, *, kind: str = "") -> None:
        """Queue an Event about ``obj`` (``type_``: Normal or Warning; ``kind`` when ``obj``
        may not carry its own). Never blocks."""
        if self.queue is None:
            self.queue = asyncio.Queue(QUEUE_SIZE)
            self.task = asyncio.get_running_loop().create_task(self._drain(), name=f"events-{self.component}")
        try:
            self.queue.put_nowait((obj, type_, reason, message, kind, time.time()))
        except asyncio.QueueFull:
            self.dropped += 1

    async def flush(self) -> None:
        """Until everything queued so far is written (or failed)."""
        if self.queue is not None:
            await self.queue.join()

    async def close(self, flush_timeout: float = 1.0) -> None:
        """Write what is queued (for at most ``flush_timeout`` seconds), then stop."""
        if self.queue is not None and flush_timeout > 0:
            try:
                await asyncio.wait_for(self.queue.join(), flush_timeout)
            except asyncio.TimeoutError:
                pass
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass
            self.task = None
            self.queue = None

    async def _drain(self) -> None:
        assert self.queue is not None
        while True:
            item = await self.queue.get()
            try:
                await self._write(*item)
                self.written += 1
            except (APIError, OSError) as e:
                log.debug("event %s for %s not written: %s", item[2], (item[0].get("metadata") or {}).get("name"), e)
            finally:
                self.queue.task_done()

    async def _write(self, obj: dict, type_: str, reason: str, message: str, kind: str, now: float) -> None:
        md = obj.get("metadata") or {}
        kind = obj.get("kind") or kind
        key = (md.get("uid") or f"{md.get('namespace', '')}/{md.get('name', '')}", kind, type_, reason, message)
        seen = self._seen.get(key)
        if seen is not None:
            ns, name, count, written = seen
            self._seen.move_to_end(key)
            if now - written < REPEAT_WRITE_INTERVAL:
                self._seen[key] = (ns, name, count + 1, written)
                return
            try:
                await self.client.patch("events", name, {"count": count + 1, "lastTimestamp": _stamp(now)}, ns)
                self._seen[key] = (ns, name, count + 1, now)
                return
            except NotFound:
                pass  # expired meanwhile: a new one
        ev = event_object(obj, type_, reason, message, component=self.component, host=self.host, now=now, kind=kind)
        await self.client.create("events", ev, ev["metadata"]["namespace"])
        self._seen[key] = (ev["metadata"]["namespace"], ev["metadata"]["name"], 1, now)
        if len(self._seen) > _CACHE_SIZE:
            self._seen.popitem(last=False)
