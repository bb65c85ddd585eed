"""Feed the DNS index from informers: no polling, one index update per watch event.

Services, EndpointSlices and Namespaces always; Pods only when pod records are ``verified``
(the only mode that needs them). The index answers SERVFAIL for would-be NXDOMAIN names until
every informer has listed once (:meth:`ClusterIndex.mark_synced`), like CoreDNS before its
caches sync.
"""

from __future__ import annotations

import asyncio
import logging
import time

from svcnet.client.base import Client
from svcnet.client.informer import Informer

__all__ = ["DNSFeed"]

log = logging.getLogger(__name__)

_KINDS = {"services": "Service", "endpointslices": "EndpointSlice", "namespaces": "Namespace", "pods": "Pod"}


class DNSFeed:
    def __init__(self, client: Client, index, *, pods: bool = False):
        self.client = client
        self.index = index
        resources = ["services", "endpointslices", "namespaces"] + (["pods"] if pods else [])
        self.informers = {r: Informer(client, r) for r in resources}
        #: wall-clock time of the last index update (tests log the event-to-answer delay)
        self.last_update = 0.0

    def _handlers(self, kind: str):
        def add(obj: dict) -> None:
            self._apply(kind, "ADDED", obj)

        def update(_old: dict, new: dict) -> None:
            self._apply(kind, "MODIFIED", new)

        def delete(obj: dict) -> None:
            self._apply(kind, "DELETED", obj)

        return add, update, delete

    def _apply(self, kind: str, event: str, obj: dict) -> None:
        try:
            self.index.apply(kind, event, obj)
            self.last_update = time.time()
        except Exception:  # a malformed object must not stop the feed
            log.exception("dns: cannot index %s %s", kind, (obj.get("metadata") or {}).get("name"))

    async def run(self) -> None:
        for res, inf in self.informers.items():
            inf.add_handler(*self._handlers(_KINDS[res]))
        tasks = [inf.start() for inf in self.informers.values()]
        try:
            for inf in self.informers.values():
                await inf.wait_synced()
            self.index.mark_synced()
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
