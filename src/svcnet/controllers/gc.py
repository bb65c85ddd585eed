"""A garbage collector for ownerReferences (background propagation).

A dependent (pod, ReplicaSet, EndpointSlice, Endpoints) whose every owner is gone (no object of
that kind and name with that uid) is deleted, as the kube-controller-manager's garbage
collector does with the default ``Background`` propagation. Owners watched: Deployments,
ReplicaSets, Services. ``propagationPolicy: Orphan``/``Foreground`` are not implemented (a
documented difference): deleting an owner always deletes its dependents afterwards.

The decision is :func:`orphaned`, pure over the owner caches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from svcnet.api.errors import NotFound
from svcnet.client.base import Client
from svcnet.client.informer import Informer
from svcnet.client.workqueue import WorkQueue, run_workers

__all__ = ["GarbageCollector", "orphaned"]

log = logging.getLogger(__name__)

OWNER_RESOURCES = {"Deployment": "deployments", "ReplicaSet": "replicasets", "Service": "services"}
DEPENDENT_RESOURCES = ("pods", "replicasets", "endpointslices", "endpoints")


def orphaned(obj: dict, lookup: Callable[[str, str, str], dict | None]) -> bool:
    """True when ``obj`` has owner references we track and none of those owners exists.
    ``lookup(kind, namespace, name)`` returns the owner or None; unknown kinds count as alive."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    if not refs:
        return False
    ns = (obj.get("metadata") or {}).get("namespace", "")
    for r in refs:
        if r.get("kind") not in OWNER_RESOURCES:
            return False
        owner = lookup(r["kind"], ns, r.get("name", ""))
        if owner is not None and owner["metadata"].get("uid") == r.get("uid"):
            return False
    return True


class GarbageCollector:
    def __init__(self, client: Client, *, workers: int = 2):
        self.client = client
        self.workers = workers
        self.owners = {kind: Informer(client, res) for kind, res in OWNER_RESOURCES.items()}
        self.dependents = {res: self.owners["ReplicaSet"] if res == "replicasets" else Informer(client, res) for res in DEPENDENT_RESOURCES}
        self.queue = WorkQueue()

    def _lookup(self, kind: str, ns: str, name: str) -> dict | None:
        return self.owners[kind].get(ns, name)

    def _enqueue(self, resource: str) -> Callable[[dict], None]:
        def add(obj: dict) -> None:
            if (obj.get("metadata") or {}).get("ownerReferences"):
                self.queue.add((resource, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))

        return add

    def _owner_deleted(self, owner: dict) -> None:
        uid = owner["metadata"].get("uid")
        ns = owner["metadata"].get("namespace", "")
        for res, inf in self.dependents.items():
            for obj in inf.list(ns):
                if any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or []):
                    self.queue.add((res, ns, obj["metadata"]["name"]))

    async def run(self) -> None:
        informers: list[Informer] = []
        for inf in self.owners.values():
            inf.add_handler(None, None, self._owner_deleted)
            informers.append(inf)
        for res, inf in self.dependents.items():
            add = self._enqueue(res)
            inf.add_handler(add, lambda _o, n, add=add: add(n), None)
            if inf not in informers:
                informers.append(inf)
        tasks = [inf.start() for inf in informers]
        try:
            for inf in informers:
                await inf.wait_synced()
            await run_workers(self.queue, self._sync, workers=self.workers, name="garbagecollector")
        finally:
            self.queue.shutdown()
            for t in tasks:
                t.cancel()

    async def _sync(self, key: tuple[str, str, str]) -> None:
        res, ns, name = key
        obj = self.dependents[res].get(ns, name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        if not orphaned(obj, self._lookup):
            return
        # confirm with the API server: the caches may lag behind a just-created owner
        for r in obj["metadata"].get("ownerReferences") or []:
            try:
                live = await self.client.get(OWNER_RESOURCES[r["kind"]], r["name"], ns)
                if live["metadata"].get("uid") == r.get("uid"):
                    return
            except NotFound:
                continue
        try:
            await self.client.delete(res, name, ns)
            log.info("garbage collector: deleted %s %s/%s (owner gone)", res, ns, name)
        except NotFound:
            pass
