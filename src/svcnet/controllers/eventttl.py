"""Event expiry: Events older than the TTL (one hour, the kube-apiserver's ``--event-ttl``
default) are deleted.

Upstream attaches an etcd lease to each Event; svcnet's stores have no leases, so this
controller keeps an informer on Events and, every ``interval`` seconds, deletes those whose
last occurrence (``lastTimestamp``, else ``eventTime``, else creation) is older than the TTL --
a sweep over the local cache, not over the API. :func:`expired` is the pure decision.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import time

from svcnet.api.errors import NotFound
from svcnet.client.base import Client
from svcnet.client.informer import Informer

__all__ = ["EVENT_TTL", "EventTTLController", "expired"]

log = logging.getLogger(__name__)

EVENT_TTL = 3600.0


def _seconds(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return _dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def expired(event: dict, now: float, ttl: float = EVENT_TTL) -> bool:
    """True when the Event last happened more than ``ttl`` seconds before ``now``."""
    for stamp in (event.get("lastTimestamp"), event.get("eventTime"), (event.get("metadata") or {}).get("creationTimestamp")):
        t = _seconds(stamp)
        if t is not None:
            return now - t > ttl
    return False


class EventTTLController:
    def __init__(self, client: Client, *, ttl: float = EVENT_TTL, interval: float = 60.0):
        self.client = client
        self.ttl = ttl
        self.interval = interval
        self.events = Informer(client, "events", name="event-ttl")
        self.deleted = 0

    async def run(self) -> None:
        task = self.events.start()
        try:
            await self.events.wait_synced()
            while True:
                await self.sweep()
                await asyncio.sleep(self.interval)
        finally:
            task.cancel()

    async def sweep(self, now: float | None = None) -> int:
        """Delete the expired Events in the cache; returns how many."""
        now = time.time() if now is None else now
        n = 0
        for ev in self.events.list():
            if expired(ev, now, self.ttl):
                md = ev["metadata"]
                try:
                    await self.client.delete("events", md["name"], md.get("namespace"))
                    n += 1
                except NotFound:
                    pass
        self.deleted += n
        return n
