"""The LoadBalancer IP controller: the event-driven shell around
:class:`svcnet.controllers.lbipam.LoadBalancerIPController`.

It watches Services, asks the pure controller what ``status.loadBalancer`` should be, and writes
it through the ``services/<name>/status`` subresource (as MetalLB does). After the first list it
re-marks the addresses recorded in stored statuses before deciding anything, so assignments
survive restarts.
"""

from __future__ import annotations

import json
import logging

from svcnet.api.errors import NotFound
from svcnet.client.base import Client
from svcnet.client.events import EventRecorder
from svcnet.client.informer import Informer
from svcnet.client.workqueue import WorkQueue, run_workers
from svcnet.controllers.lbipam import LBIPAM, LBPool, LoadBalancerIPController, service_key

__all__ = ["LoadBalancerController", "parse_pools"]

log = logging.getLogger(__name__)


def parse_pools(specs: tuple[str, ...] | list[str]) -> list[LBPool]:
    """``["127.240.0.0/24", "10.0.0.10-10.0.0.20"]`` -> pools named pool-0, pool-1, ..."""
    return [LBPool(name=f"pool-{i}", addresses=(s,), avoid_buggy_ips=True) for i, s in enumerate(specs)]


class LoadBalancerController:
    def __init__(self, client: Client, *, pools: tuple[str, ...] = ("127.240.0.0/24",)):
        self.client = client
        self.ctl = LoadBalancerIPController(LBIPAM(parse_pools(pools)))
        self.services = Informer(client, "services")
        self.queue = WorkQueue()
        self.events = EventRecorder(client, "loadbalancer-ipam")
        self._synced = False

    def _key(self, svc: dict) -> tuple[str, str]:
        return svc["metadata"].get("namespace", ""), svc["metadata"]["name"]

    def _on_delete(self, svc: dict) -> None:
        self.ctl.on_delete(svc)
        self._requeue_load_balancers()

    def _requeue_load_balancers(self) -> None:
        """An address was freed: a pending LoadBalancer Service may get it now."""
        for other in self.services.list():
            if ((other.get("spec") or {}).get("type")) == "LoadBalancer":
                self.queue.add(self._key(other))

    async def run(self) -> None:
        self.services.add_handler(
            lambda s: self.queue.add(self._key(s)),
            lambda _o, n: self.queue.add(self._key(n)),
            self._on_delete,
        )
        task = self.services.start()
        try:
            await self.services.wait_synced()
            services = self.services.list()
            for svc, patch in zip(services, self.ctl.resync(services)):
                if patch is not None:
                    await self._write(svc, patch)
            self._record_failures(services)
            self._synced = True
            await run_workers(self.queue, self._sync, name="loadbalancer-ipam")
        finally:
            self.queue.shutdown()
            task.cancel()
            await self.events.close()

    async def _sync(self, key: tuple[str, str]) -> None:
        svc = self.services.get(*key)
        if svc is None:
            return
        held = set(self.ctl.ipam.used())
        patch = self.ctl.on_upsert(svc)
        self._record_failures([svc])
        if patch is not None:
            await self._write(svc, patch)
        if not held <= set(self.ctl.ipam.used()):
            # released by an update (type or class changed, another IP requested), not a delete
            self._requeue_load_balancers()

    def _record_failures(self, services: list[dict]) -> None:
        """AllocationFailed events for what the pure controller could not assign."""
        by_key = {service_key(s): s for s in services}
        for key, reason in self.ctl.events:
            if key in by_key:
                self.events.record(by_key[key], "Warning", "AllocationFailed", reason, kind="Service")
        self.ctl.events.clear()

    async def _write(self, svc: dict, patch: dict) -> None:
        ns, name = self._key(svc)
        try:
            await self.client.patch("services", name, patch, ns, subresource="status")
        except NotFound:
            self.ctl.on_delete(svc)
            return
        ips = [i.get("ip") for i in (patch["status"].get("loadBalancer") or {}).get("ingress") or []]
        log.info("service %s/%s: load balancer ingress %s", ns, name, ips or "<pending>")
        if ips:
            self.events.record(svc, "Normal", "IPAllocated", f"Assigned IP {json.dumps(ips)}", kind="Service")
