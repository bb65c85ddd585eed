"""Change tracking between syncs (upstream ``servicechangetracker.go``,
``endpointschangetracker.go``, ``ServicePortMap.Update``, ``EndpointsMap.Update``).

Theory of operation
-------------------
Informer handlers call :meth:`ServiceChangeTracker.update` and
:meth:`EndpointsChangeTracker.endpoint_slice_update` as events arrive; both return whether
something relevant changed, which is when the proxy asks its runner for a sync. A tracker keeps
each Service's state before the first pending change and after the last one, and forgets the
entry when the two are equal (a change undone before the sync costs nothing).

At sync time :meth:`ServicePortMap.update` and :meth:`EndpointsMap.update` apply the pending
changes and say which Services changed (``updated_services``), so a data plane can rebuild only
those, and which UDP cluster IPs lost their service (stale conntrack entries to clear in the
kernel modes).

Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from svcnet.proxy.model.endpoints import EndpointInfo, endpoints_by_port, slice_service
from svcnet.proxy.model.serviceport import ServicePortInfo, ServicePortName, service_port_infos

__all__ = [
    "EndpointsChangeTracker",
    "EndpointsMap",
    "ServiceChangeTracker",
    "ServicePortMap",
    "UpdateEndpointsResult",
    "UpdateServicesResult",
]

Key = tuple[str, str]  # (namespace, service name)
PortMap = dict[ServicePortName, ServicePortInfo]
EndpointMap = dict[ServicePortName, list[EndpointInfo]]


def _key(obj: dict) -> Key:
    md = obj.get("metadata") or {}
    return md.get("namespace", ""), md.get("name", "")


class ServiceChangeTracker:
    def __init__(self, family: str = "IPv4"):
        self.family = family
        self._items: dict[Key, list[PortMap]] = {}

    def update(self, previous: dict | None, current: dict | None) -> bool:
        """Record a Service add (previous None), update or delete (current None)."""
        obj = current if current is not None else previous
        if obj is None:
            return bool(self._items)
        key = _key(obj)
        item = self._items.get(key)
        if item is None:
            item = [service_port_infos(previous, self.family) if previous else {}, {}]
            self._items[key] = item
        item[1] = service_port_infos(current, self.family) if current else {}
        if item[0] == item[1]:
            del self._items[key]
        return bool(self._items)

    def pending(self) -> bool:
        return bool(self._items)

    def checkout(self) -> dict[Key, list[PortMap]]:
        items, self._items = self._items, {}
        return items


@dataclass(frozen=True, slots=True)
class UpdateServicesResult:
    updated_services: frozenset[Key]
    deleted_udp_cluster_ips: frozenset[str]


class ServicePortMap(dict):
    """ServicePortName -> ServicePortInfo for every service port this proxy handles."""

    def update(self, tracker: ServiceChangeTracker) -> UpdateServicesResult:  # type: ignore[override]
        updated: set[Key] = set()
        udp_gone: set[str] = set()
        for key, (prev, cur) in tracker.checkout().items():
            updated.add(key)
            for spn, info in prev.items():
                self.pop(spn, None)
                if info.protocol == "UDP" and spn not in cur:
                    udp_gone.add(info.cluster_ip)
            dict.update(self, cur)
        # as upstream: reported even when another UDP port keeps the IP, since the conntrack
        # entries of the removed port are stale all the same
        return UpdateServicesResult(frozenset(updated), frozenset(udp_gone))


def _stripped(slice_obj: dict) -> dict:
    """The parts of a slice that matter to a proxy (so unrelated edits are not changes)."""
    return {
        "addressType": slice_obj.get("addressType"),
        "ports": slice_obj.get("ports"),
        "endpoints": slice_obj.get("endpoints"),
    }


class EndpointsChangeTracker:
    def __init__(self, family: str = "IPv4", node_name: str = ""):
        self.family = family
        self.node_name = node_name
        self._applied: dict[Key, dict[str, dict]] = {}
        self._pending: dict[Key, dict[str, dict | None]] = {}

    def endpoint_slice_update(self, slice_obj: dict, removed: bool) -> bool:
        """Record a slice add/update (``removed`` False) or delete. Returns whether this slice
        changed what the proxy should do."""
        if slice_obj.get("addressType") != self.family:
            return False
        key = slice_service(slice_obj)
        if key is None:
            return False
        name = (slice_obj.get("metadata") or {}).get("name", "")
        new = None if removed else _stripped(slice_obj)
        pend = self._pending.get(key, {})
        cur = pend[name] if name in pend else self._applied.get(key, {}).get(name)
        if cur == new:
            return False
        self._pending.setdefault(key, {})[name] = new
        return True

    def pending(self) -> bool:
        return bool(self._pending)

    def checkout(self) -> dict[Key, tuple[EndpointMap, EndpointMap]]:
        """Apply pending slice changes; (old, new) endpoints per changed Service."""
        out: dict[Key, tuple[EndpointMap, EndpointMap]] = {}
        pending, self._pending = self._pending, {}
        for key, changes in pending.items():
            old_slices = self._applied.get(key, {})
            new_slices = dict(old_slices)
            for name, s in changes.items():
                if s is None:
                    new_slices.pop(name, None)
                else:
                    new_slices[name] = s
            if new_slices:
                self._applied[key] = new_slices
            else:
                self._applied.pop(key, None)
            old = self._build(key, old_slices)
            new = self._build(key, new_slices)
            if old != new:
                out[key] = (old, new)
        return out

    def _build(self, key: Key, slices: dict[str, dict]) -> EndpointMap:
        ns, svc = key
        objs = [
            {**s, "metadata": {"namespace": ns, "labels": {"kubernetes.io/service-name": svc}}}
            for s in slices.values()
        ]
        return endpoints_by_port(objs, family=self.family, node_name=self.node_name)


@dataclass(frozen=True, slots=True)
class UpdateEndpointsResult:
    updated_services: frozenset[Key]
    #: UDP service ports whose set of endpoints lost members (conntrack cleanup in kernel modes)
    stale_udp: frozenset[ServicePortName]


class EndpointsMap(dict):
    """ServicePortName -> sorted list of EndpointInfo."""

    def update(self, tracker: EndpointsChangeTracker) -> UpdateEndpointsResult:  # type: ignore[override]
        updated: set[Key] = set()
        stale: set[ServicePortName] = set()
        for key, (old, new) in tracker.checkout().items():
            updated.add(key)
            for spn, eps in old.items():
                self.pop(spn, None)
                if spn.protocol == "UDP":
                    gone = {str(e) for e in eps} - {str(e) for e in new.get(spn, [])}
                    if gone:
                        stale.add(spn)
            dict.update(self, new)
        return UpdateEndpointsResult(frozenset(updated), frozenset(stale))
