"""The EndpointSlice controller: informers + a work queue of Service keys around ``reconcile``.

Theory of operation
-------------------
The thin, event-driven half of upstream's ``pkg/controller/endpointslice/endpointslice_controller.go``;
every decision is made by the pure :func:`svcnet.controllers.endpointslice_reconcile.reconcile`.

1. **Caches.** Informers on services, pods, nodes and endpointslices (all namespaces). A sync
   reads only these caches; the only API calls are the writes of a :class:`Plan`.
2. **Events -> Service keys** ``(namespace, name)`` on one :class:`WorkQueue` (a key is never
   synced by two workers at once, and a key added while it syncs is synced again after):
   Service add/update/delete -> its key; Pod add/delete -> Services whose selector matches it;
   Pod update -> the same for old and new labels, only when something that shapes endpoints
   changed (``services_to_update_on_pod_change``); Node add/delete or zone-label change ->
   Services of the Pods on that Node; a change to a managed slice that this controller did not
   write itself -> its Service (repairs manual edits, after ``slice_change_delay``).
3. **Sync.** Service gone -> delete its managed slices (svcnet has no garbage collector; upstream
   leaves this to ownerReferences). Otherwise: if the slice cache lags our own writes
   (:class:`EndpointSliceTracker`), wait for it (the next slice event for that Service, or
   ``stale_retry`` seconds); else reconcile and write creates, then updates, then deletes.
   Updates carry the cached resourceVersion, so a stale cache ends in ``Conflict``; any failed
   write raises and ``run_workers`` requeues the key with back-off. Pods skipped for a missing
   Node also requeue with back-off (upstream returns an error for the same reason).
4. **Start-up.** Workers start once every cache has synced; then managed slices whose Service
   no longer exists are queued too, so their slices are removed.

:class:`ServiceEndpointsController` holds what this controller shares with the legacy Endpoints
controller (:mod:`svcnet.controllers.endpoints`): Service/Pod informers, the queue, the Pod
event mapping and the run loop.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping

from svcnet.api.errors import Forbidden, NotFound
from svcnet.client.base import Client
from svcnet.client.informer import Informer
from svcnet.client.workqueue import WorkQueue, run_workers
from svcnet.controllers.endpointslice_reconcile import (
    DEFAULT_MAX_ENDPOINTS_PER_SLICE,
    Plan,
    reconcile,
)
from svcnet.controllers.endpointslice_util import (
    CONTROLLER_NAME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    LABEL_TOPOLOGY_ZONE,
    EndpointSliceTracker,
    TriggerTimeTracker,
    selector_matches,
    service_key,
    service_selector,
    services_for_pod,
    services_to_update_on_pod_change,
)

__all__ = ["EndpointSliceController", "RetryLater", "ServiceEndpointsController", "namespace_terminating"]

log = logging.getLogger(__name__)

Key = tuple[str, str]


class RetryLater(Exception):
    """A sync did what it could but must run again (e.g. a Pod's Node is not known yet)."""


def _md(obj: Mapping | None) -> Mapping:
    return (obj or {}).get("metadata") or {}


class ServiceEndpointsController:
    """Shared driver: Service and Pod informers feeding a queue of Service keys.

    Subclasses add their own informers to ``self.informers``, register handlers in
    ``_register`` and implement ``sync(key)``."""

    name = "service-endpoints-controller"

    def __init__(self, client: Client, *, workers: int = 2, stale_retry: float = 1.0):
        self.client = client
        self.workers = workers
        self.stale_retry = stale_retry
        self.queue = WorkQueue()
        self.services = Informer(client, "services")
        self.pods = Informer(client, "pods")
        self.informers: list[Informer] = [self.services, self.pods]
        self.trigger_times = TriggerTimeTracker()
        #: True once every cache has synced; handlers stay quiet before (each Service's initial
        #: add queues it anyway, and no worker runs earlier)
        self.synced = False
        #: Service keys whose sync found the cache behind our own writes
        self._awaiting_cache: set[Key] = set()
        #: completed syncs, handy in tests
        self.syncs = 0

    # -- run ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Start the informers, wait for their caches, then process keys until cancelled."""
        self._register()
        for inf in self.informers:
            inf.start()
        try:
            for inf in self.informers:
                await inf.wait_synced()
            self.synced = True
            self._after_synced()
            await run_workers(self.queue, self._sync_counted, workers=self.workers, name=self.name)
        finally:
            self.queue.shutdown()
            for inf in self.informers:
                await inf.stop()

    async def _sync_counted(self, key: Hashable) -> None:
        await self.sync(key)  # type: ignore[arg-type]
        self.syncs += 1

    async def sync(self, key: Key) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _register(self) -> None:
        self.services.add_handler(self._on_service, lambda old, new: self._on_service(new), self._on_service)
        self.pods.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_add)

    def _after_synced(self) -> None:
        """Hook: queue whatever the caches show needs a look at start-up."""

    # -- cache helpers -----------------------------------------------------------------------

    def selected_pods(self, service: Mapping) -> list[dict]:
        ns = _md(service).get("namespace") or ""
        sel = service_selector(service)
        return [p for p in self.pods.list(ns) if selector_matches(sel, _md(p).get("labels"))]

    def wait_for_cache(self, key: Key) -> None:
        """The cache lags our own writes: sync again on the next relevant event, or soon."""
        self._awaiting_cache.add(key)
        self.queue.add_after(key, self.stale_retry)

    def cache_moved(self, key: Key) -> None:
        if key in self._awaiting_cache:
            self._awaiting_cache.discard(key)
            self.queue.add(key)

    # -- handlers (run on the event loop; must not block) ------------------------------------

    def _on_service(self, svc: dict) -> None:
        self.queue.add(service_key(svc))

    def _on_pod_add(self, pod: dict) -> None:
        if not self.synced:
            return
        ns = _md(pod).get("namespace") or ""
        for key in services_for_pod(self.services.list(ns), pod):
            self.queue.add(key)

    def _on_pod_update(self, old: dict, new: dict) -> None:
        if not self.synced:
            return
        ns = _md(new).get("namespace") or ""
        for key in services_to_update_on_pod_change(self.services.list(ns), old, new):
            self.queue.add(key)


class EndpointSliceController(ServiceEndpointsController):
    """Keeps every selector Service's EndpointSlices in step with its Pods.

    ``max_endpoints_per_slice``: kube-controller-manager's ``--max-endpoints-per-slice``.
    ``slice_change_delay``: how long to wait before repairing a slice someone else changed
    (upstream ``endpointSliceChangeMinSyncDelay``, 1 s, batches bursts of slice events)."""

    name = "endpointslice-controller"

    def __init__(
        self,
        client: Client,
        *,
        max_endpoints_per_slice: int = DEFAULT_MAX_ENDPOINTS_PER_SLICE,
        workers: int = 2,
        slice_change_delay: float = 1.0,
        stale_retry: float = 1.0,
    ):
        if not 1 <= max_endpoints_per_slice <= 1000:
            raise ValueError("max_endpoints_per_slice must be between 1 and 1000")
        super().__init__(client, workers=workers, stale_retry=stale_retry)
        self.max_endpoints_per_slice = max_endpoints_per_slice
        self.slice_change_delay = slice_change_delay
        self.nodes = Informer(client, "nodes")
        self.slices = Informer(client, "endpointslices")
        self.informers += [self.nodes, self.slices]
        self.tracker = EndpointSliceTracker()

    # -- sync --------------------------------------------------------------------------------

    async def sync(self, key: Key) -> None:
        ns, name = key
        svc = self.services.get(ns, name)
        if svc is None:
            await self._delete_slices_of_deleted_service(ns, name)
            return
        if (svc.get("spec") or {}).get("type") == "ExternalName" or service_selector(svc) is None:
            return  # no slices from us; selectorless Services get theirs from users
        slices = [s for s in self.managed_slices(ns, name) if not _md(s).get("deletionTimestamp")]
        if self.tracker.stale_slices(svc, slices):
            self.wait_for_cache(key)
            return
        pods = self.selected_pods(svc)
        trigger = self.trigger_times.compute(ns, svc, pods)
        node_names = {(p.get("spec") or {}).get("nodeName") for p in pods} - {None, ""}
        nodes = {n: node for n in node_names if (node := self.nodes.get(None, n)) is not None}
        plan = reconcile(svc, pods, nodes, slices, max_endpoints_per_slice=self.max_endpoints_per_slice, now=trigger)
        await self.apply(ns, plan)
        if plan.missing_nodes:
            raise RetryLater(f"service {ns}/{name}: pods skipped, node(s) not found: {', '.join(plan.missing_nodes)}")

    async def apply(self, ns: str, plan: Plan) -> None:
        """Write a plan: creates, updates, deletes (``finalize``). Errors propagate."""
        for obj in plan.create:
            try:
                created = await self.client.create("endpointslices", obj, ns)
            except Forbidden as e:
                if namespace_terminating(e):  # creates will keep failing: drop the item
                    return
                raise
            self.tracker.update(created)
        for obj in plan.update:
            self.tracker.update(await self.client.update("endpointslices", obj, ns))
        for obj in plan.delete:
            try:
                await self.client.delete("endpointslices", _md(obj)["name"], ns)
            except NotFound:
                pass
            self.tracker.expect_deletion(obj)

    async def _delete_slices_of_deleted_service(self, ns: str, name: str) -> None:
        # svcnet has no garbage collector: do what ownerReferences would
        for s in self.managed_slices(ns, name):
            try:
                await self.client.delete("endpointslices", _md(s)["name"], ns)
            except NotFound:
                pass
        self.trigger_times.delete_service(ns, name)
        self.tracker.delete_service(ns, name)

    def managed_slices(self, ns: str, name: str) -> list[dict]:
        out = []
        for s in self.slices.list(ns):
            labels = _md(s).get("labels") or {}
            if labels.get(LABEL_MANAGED_BY) == CONTROLLER_NAME and labels.get(LABEL_SERVICE_NAME) == name:
                out.append(s)
        return out

    # -- handlers ----------------------------------------------------------------------------

    def _register(self) -> None:
        super()._register()
        self.nodes.add_handler(self._on_node, self._on_node_update, self._on_node)
        self.slices.add_handler(self._on_slice_add, self._on_slice_update, self._on_slice_delete)

    def _after_synced(self) -> None:
        for s in self.slices.list():
            key = _slice_service_key(s)
            if key is not None and _managed(s) and self.services.get(*key) is None:
                self.queue.add(key)

    def _on_node(self, node: dict) -> None:
        if self.synced:
            self._queue_services_on_node(_md(node).get("name") or "")

    def _on_node_update(self, old: dict, new: dict) -> None:
        if not self.synced:
            return
        zone = lambda n: (_md(n).get("labels") or {}).get(LABEL_TOPOLOGY_ZONE)  # noqa: E731
        if zone(old) != zone(new):
            self._queue_services_on_node(_md(new).get("name") or "")

    def _queue_services_on_node(self, node_name: str) -> None:
        for pod in self.pods.list():
            if (pod.get("spec") or {}).get("nodeName") == node_name:
                ns = _md(pod).get("namespace") or ""
                for key in services_for_pod(self.services.list(ns), pod):
                    self.queue.add(key)

    def _queue_for_slice(self, s: dict) -> None:
        key = _slice_service_key(s)
        if key is not None:
            self.queue.add_after(key, self.slice_change_delay)

    def _on_slice_add(self, s: dict) -> None:
        if not self.synced:
            return
        key = _slice_service_key(s)
        if key is not None:
            self.cache_moved(key)
        if _managed(s) and self.tracker.should_sync(s):
            self._queue_for_slice(s)

    def _on_slice_update(self, old: dict, new: dict) -> None:
        if not self.synced:
            return
        for s in (old, new):
            key = _slice_service_key(s)
            if key is not None:
                self.cache_moved(key)
        old_svc = (_md(old).get("labels") or {}).get(LABEL_SERVICE_NAME)
        new_svc = (_md(new).get("labels") or {}).get(LABEL_SERVICE_NAME)
        if old_svc != new_svc:
            self._queue_for_slice(new)
            self._queue_for_slice(old)
        elif _managed(old) != _managed(new) or (_managed(new) and self.tracker.should_sync(new)):
            self._queue_for_slice(new)

    def _on_slice_delete(self, s: dict) -> None:
        if not self.synced:
            return
        key = _slice_service_key(s)
        if key is not None:
            self.cache_moved(key)
        # upstream only reacts to slices it tracks; we also repair deletions of slices an
        # earlier run wrote
        if _managed(s) and (not self.tracker.has(s) or not self.tracker.handle_deletion(s)):
            self._queue_for_slice(s)


def namespace_terminating(err: Forbidden) -> bool:
    """``HasStatusCause(err, NamespaceTerminatingCause)``, or our registry's message for it."""
    causes = ((getattr(err, "status", None) or {}).get("details") or {}).get("causes") or ()
    if any(c.get("type") == "NamespaceTerminating" for c in causes):
        return True
    return "is being terminated" in str(err)


def _managed(s: Mapping) -> bool:
    return (_md(s).get("labels") or {}).get(LABEL_MANAGED_BY) == CONTROLLER_NAME


def _slice_service_key(s: Mapping) -> Key | None:
    """``ServiceControllerKey``: from the service-name label; None without it."""
    name = (_md(s).get("labels") or {}).get(LABEL_SERVICE_NAME)
    if not name:
        return None
    return _md(s).get("namespace") or "", name
