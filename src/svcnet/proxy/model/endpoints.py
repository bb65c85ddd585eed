"""Endpoints as a node proxy sees them (upstream ``pkg/proxy/endpoint.go``,
``endpointslicecache.go``) and their categorisation (``topology.go``).

Theory of operation
-------------------
:func:`endpoints_by_port` merges every EndpointSlice of one Service into, per
:class:`ServicePortName`, a list of :class:`EndpointInfo`, exactly as kube-proxy's
EndpointSliceCache does:

- slices of another address type are ignored, and so are slices without the
  ``kubernetes.io/service-name`` label (the caller groups by that label);
- a slice port with no name key, or no/zero port number, is skipped;
- only ``addresses[0]`` of an endpoint is used;
- ``ready`` and ``serving`` count as true when absent, ``terminating`` as false;
- the same ``ip:port`` in two slices keeps the non-terminating copy;
- each port's list is sorted by the string ``"ip:port"`` (so ``10.0.0.10:80`` sorts before
  ``10.0.0.2:80``): every data plane sees the same order.

:func:`categorize_endpoints` is ``CategorizeEndpoints``: the cluster set (ready, topology-
filtered, falling back to serving+terminating when nothing is ready), the local set (local
ready, else local serving+terminating), the endpoints reachable at all, and whether any exist.

Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from svcnet.proxy.model.serviceport import ServicePortInfo, ServicePortName

__all__ = [
    "Categorized",
    "EndpointInfo",
    "SERVICE_NAME_LABEL",
    "categorize_endpoints",
    "endpoints_by_port",
    "slice_service",
]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
ZONE_LABEL = "topology.kubernetes.io/zone"


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointInfo:
    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    is_local: bool = False
    node_name: str = ""
    zone: str = ""
    zone_hints: frozenset[str] | None = None  # None (or empty): no hints
    target: str = ""  # targetRef pod name, for metrics and logs

    def __str__(self) -> str:
        """``ip:port`` (``[ip]:port`` for IPv6), upstream's ``Endpoint.String()``."""
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


def slice_service(slice_obj: dict) -> tuple[str, str] | None:
    md = slice_obj.get("metadata") or {}
    svc = (md.get("labels") or {}).get(SERVICE_NAME_LABEL)
    if not svc:
        return None
    return md.get("namespace", ""), svc


def endpoints_by_port(
    slices: list[dict], *, family: str = "IPv4", node_name: str = ""
) -> dict[ServicePortName, list[EndpointInfo]]:
    """All endpoints of one Service's slices, per service port, deduplicated and sorted."""
    merged: dict[ServicePortName, dict[str, EndpointInfo]] = {}
    for sl in slices:
        if sl.get("addressType") != family:
            continue
        key = slice_service(sl)
        if key is None:
            continue
        ns, svc = key
        for p in sl.get("ports") or []:
            if "name" not in p or p.get("name") is None or not p.get("port"):
                continue
            spn = ServicePortName(ns, svc, p["name"] or "", p.get("protocol", "TCP"))
            bucket = merged.setdefault(spn, {})
            for ep in sl.get("endpoints") or []:
                addrs = ep.get("addresses") or []
                if not addrs:
                    continue
                cond = ep.get("conditions") or {}
                hints = ep.get("hints") or {}
                # An empty forZones list is no hint at all (upstream only builds a set when
                # len(ForZones) > 0, endpointslicecache.go addEndpoints).
                zones = hints.get("forZones") or None
                info = EndpointInfo(
                    ip=addrs[0],
                    port=int(p["port"]),
                    ready=cond.get("ready") is None or bool(cond.get("ready")),
                    serving=cond.get("serving") is None or bool(cond.get("serving")),
                    terminating=bool(cond.get("terminating")),
                    is_local=bool(node_name) and ep.get("nodeName") == node_name,
                    node_name=ep.get("nodeName") or "",
                    zone=ep.get("zone") or "",
                    zone_hints=frozenset(z.get("name", "") for z in zones) if zones is not None else None,
                    target=((ep.get("targetRef") or {}).get("name")) or "",
                )
                k = str(info)
                have = bucket.get(k)
                if have is None or (have.terminating and not info.terminating):
                    bucket[k] = info
    return {spn: [b[k] for k in sorted(b)] for spn, b in merged.items()}


@dataclass(frozen=True, slots=True)
class Categorized:
    """``cluster``/``local`` are None when the service port does not use that kind of
    endpoint, and an empty tuple when it does but has none (upstream's nil vs empty)."""

    cluster: tuple[EndpointInfo, ...] | None
    local: tuple[EndpointInfo, ...] | None
    all_reachable: tuple[EndpointInfo, ...]
    has_any: bool


def _can_use_topology(endpoints: list[EndpointInfo], svc: ServicePortInfo, node_labels: dict[str, str]) -> bool:
    """Zone hints are used only when every ready endpoint carries them and one names our zone
    (all-or-nothing; upstream ``canUseTopology``)."""
    if svc.traffic_distribution not in ("PreferClose", "PreferSameZone"):
        return False
    zone = node_labels.get(ZONE_LABEL, "")
    if not zone:
        return False
    found = False
    for ep in endpoints:
        if not ep.ready:
            continue
        if not ep.zone_hints:  # None or empty: upstream checks ZoneHints().Len() == 0
            return False
        if zone in ep.zone_hints:
            found = True
    return found


def categorize_endpoints(
    endpoints: list[EndpointInfo], svc: ServicePortInfo, node_labels: dict[str, str] | None = None
) -> Categorized:
    node_labels = node_labels or {}
    cluster: list[EndpointInfo] | None = None
    local: list[EndpointInfo] | None = None
    has_any = False
    use_topology = False
    if svc.uses_cluster_endpoints():
        use_topology = _can_use_topology(endpoints, svc, node_labels)
        zone = node_labels.get(ZONE_LABEL, "")
        cluster = [
            ep for ep in endpoints if ep.ready and (not use_topology or (ep.zone_hints is not None and zone in ep.zone_hints))
        ]
        if not cluster:
            cluster = [ep for ep in endpoints if ep.serving and ep.terminating]
        if cluster:
            has_any = True
    if not svc.uses_local_endpoints():
        c = tuple(cluster or ())
        return Categorized(c if cluster is not None else None, None, c, has_any)
    has_local_ready = has_local_st = False
    for ep in endpoints:
        if ep.ready:
            has_any = True
            has_local_ready = has_local_ready or ep.is_local
        elif ep.serving and ep.terminating:
            has_any = True
            has_local_st = has_local_st or ep.is_local
    local = []
    if has_local_ready:
        local = [ep for ep in endpoints if ep.is_local and ep.ready]
    elif has_local_st:
        local = [ep for ep in endpoints if ep.is_local and ep.serving and ep.terminating]
    if not svc.uses_cluster_endpoints():
        return Categorized(None, tuple(local), tuple(local), has_any)
    assert cluster is not None
    if not use_topology and not (has_local_st and not has_local_ready):
        return Categorized(tuple(cluster), tuple(local), tuple(cluster), has_any)
    merged = {str(ep): ep for ep in cluster}
    merged.update({str(ep): ep for ep in local})
    return Categorized(tuple(cluster), tuple(local), tuple(merged[k] for k in sorted(merged)), has_any)
