"""The cluster state DNS needs, stripped and indexed at update time.

Theory of operation
-------------------
This is CoreDNS's ``plugin/kubernetes/object/`` (stripped copies of API objects) and
``controller.go`` (informer indexes) in one pure module. Rules:

1. **Strip once.** Each Kubernetes JSON object fed to :meth:`ClusterIndex.apply` is converted
   exactly once into a small frozen value (:class:`ServiceInfo`, :class:`SliceInfo`, pods as
   ``(namespace, name, ips)``) that keeps only what answers need; the dict is never stored
   (CoreDNS ``object.ToService`` copies then drops the original, for memory).
2. **Index at update time.** Every lookup the answer code makes is a dict get: services by
   ``(namespace, name)``, ready endpoints by service, ClusterIP -> services, endpoint IP -> owning
   services, namespaces that exist, pods by IP (``pods verified`` only). Answers never scan.
3. **Endpoints come from EndpointSlices**, keyed by the slice's ``kubernetes.io/service-name``
   label (CoreDNS ``object/endpoint.go``). Only *ready* endpoints count, and ``ready: null``
   means ready ("nil ... should interpret this unknown state as ready",
   ``EndpointSliceToEndpoints``). All slices of a service (IPv4 and IPv6 address types) are merged
   and deduplicated by IP: the first slice (by name) that carries an IP gives its hostname and
   pod name; its ports are the union of the ports of every slice carrying it. A slice without
   ports, like a service without ports, gets the sentinel port ``-1`` (CoreDNS
   ``object/service.go``): it still makes A/AAAA records but never an SRV record.
4. **A namespace exists** if a Namespace object exists *or* any Service lives in it, so the index
   works when fed only Services and EndpointSlices.
5. **Change detection.** An event that leaves the stripped value unchanged changes nothing (CoreDNS
   compares stripped objects before bumping ``modified``). A real change increments
   :attr:`ClusterIndex.generation` (answer caches key on it) and, for Services, EndpointSlices
   and -- with ``track_pods`` -- Pods, moves :attr:`ClusterIndex.serial` to the current Unix time
   (never backwards): the SOA serial (``reference/dns.md`` §1.9). Namespace events move only the
   generation. :meth:`ClusterIndex.mark_synced` records that the initial lists are in (until
   then would-be NXDOMAIN answers are SERVFAIL, ``TestNotSyncedServeDNS``).

Nothing here does I/O; the clock is injected.
"""

from __future__ import annotations

import ipaddress
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "ClusterIndex",
    "EndpointAddress",
    "PortInfo",
    "SERVICE_NAME_LABEL",
    "ServiceInfo",
    "SliceInfo",
    "normalize_ip",
    "to_service",
    "to_slice",
]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
# Pods in these phases have given their IP back (CoreDNS lists pods with the field selector
# status.phase!=Succeeded,status.phase!=Failed,status.phase!=Unknown).
_DEAD_POD_PHASES = frozenset({"Succeeded", "Failed", "Unknown"})
_intern = sys.intern


@dataclass(frozen=True, slots=True, kw_only=True)
class PortInfo:
    name: str  # "" for an unnamed port
    protocol: str  # TCP | UDP | SCTP
    port: int  # -1 = sentinel "no ports declared" (A records yes, SRV no)


_NO_PORTS = (PortInfo(name="", protocol="", port=-1),)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceInfo:
    name: str
    namespace: str
    type: str  # ClusterIP | NodePort | LoadBalancer | ExternalName
    cluster_ips: tuple[str, ...]  # normalised IPs; () for headless/ExternalName/unallocated
    external_name: str  # "" unless type ExternalName
    ports: tuple[PortInfo, ...]  # never empty: (sentinel,) when the Service has no ports
    headless: bool  # clusterIP "None"


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointAddress:
    ip: str  # normalised
    raw_ip: str  # as written in the slice (the dashed-IP hostname is made from it)
    hostname: str  # "" if unset
    ready: bool  # conditions.ready, None -> True
    pod_name: str  # targetRef.name when targetRef.kind is Pod, else ""
    ports: tuple[PortInfo, ...]  # the slice's ports (or the sentinel)


@dataclass(frozen=True, slots=True, kw_only=True)
class SliceInfo:
    name: str
    namespace: str
    service: str  # value of the kubernetes.io/service-name label
    endpoints: tuple[EndpointAddress, ...]  # one per address, ready or not


def normalize_ip(text: str) -> str | None:
    """The canonical text of an IP address, or None if ``text`` is not one."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


# Objects come from the API as JSON: be defensive about shapes, never raise on a bad one.
def _d(x) -> dict:
    return x if isinstance(x, dict) else {}


def _l(x) -> list:
    return x if isinstance(x, list) else []


def _s(x, default: str = "") -> str:
    return x if isinstance(x, str) and x else default


def _ports(raw) -> tuple[PortInfo, ...]:
    out = []
    for p in _l(raw):
        p = _d(p)
        port = p.get("port")
        out.append(
            PortInfo(
                name=_intern(_s(p.get("name"))),
                protocol=_intern(_s(p.get("protocol"), "TCP")),
                port=port if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536 else -1,
            )
        )
    return tuple(out) or _NO_PORTS


def to_service(obj: dict) -> ServiceInfo:
    """Strip a v1 Service (JSON dict) down to what DNS needs."""
    meta = _d(obj.get("metadata"))
    spec = _d(obj.get("spec"))
    svc_type = _s(spec.get("type"), "ClusterIP")
    ips = _l(spec.get("clusterIPs")) or ([spec["clusterIP"]] if _s(spec.get("clusterIP")) else [])
    headless = bool(ips) and ips[0] == "None"
    cluster_ips: list[str] = []
    if svc_type != "ExternalName" and not headless:
        for ip in ips:
            norm = normalize_ip(ip) if isinstance(ip, str) else None
            if norm is not None and norm not in cluster_ips:
                cluster_ips.append(norm)
    return ServiceInfo(
        name=_intern(_s(meta.get("name"))),
        namespace=_intern(_s(meta.get("namespace"), "default")),
        type=_intern(svc_type),
        cluster_ips=tuple(cluster_ips),
        external_name=_s(spec.get("externalName")) if svc_type == "ExternalName" else "",
        ports=_ports(spec.get("ports")),
        headless=headless and svc_type != "ExternalName",
    )


def to_slice(obj: dict) -> SliceInfo:
    """Strip a discovery.k8s.io/v1 EndpointSlice down to what DNS needs (FQDN addresses dropped)."""
    meta = _d(obj.get("metadata"))
    ports = _ports(obj.get("ports"))
    eps: list[EndpointAddress] = []
    for ep in _l(obj.get("endpoints")):
        ep = _d(ep)
        ready = _d(ep.get("conditions")).get("ready")
        ref = _d(ep.get("targetRef"))
        pod = _s(ref.get("name")) if _s(ref.get("kind"), "Pod") == "Pod" else ""
        for raw in _l(ep.get("addresses")):
            ip = normalize_ip(raw) if isinstance(raw, str) else None
            if ip is None:
                continue
            eps.append(
                EndpointAddress(
                    ip=ip,
                    raw_ip=ip if ip == raw else raw,
                    hostname=_s(ep.get("hostname")),
                    ready=ready is None or bool(ready),
                    pod_name=pod,
                    ports=ports,
                )
            )
    return SliceInfo(
        name=_s(meta.get("name")),
        namespace=_intern(_s(meta.get("namespace"), "default")),
        service=_intern(_s(_d(meta.get("labels")).get(SERVICE_NAME_LABEL))),
        endpoints=tuple(eps),
    )


def _merge(slices: Iterable[SliceInfo]) -> tuple[EndpointAddress, ...]:
    """Ready endpoints of a service across its slices, deduplicated by IP (rule 3)."""
    merged: dict[str, EndpointAddress] = {}
    for sl in slices:
        for ep in sl.endpoints:
            if not ep.ready:
                continue
            have = merged.get(ep.ip)
            if have is None:
                merged[ep.ip] = ep
            elif ep.ports != have.ports:
                extra = tuple(p for p in ep.ports if p not in have.ports and p.port != -1)
                if extra:
                    base = tuple(p for p in have.ports if p.port != -1)
                    merged[ep.ip] = EndpointAddress(
                        ip=have.ip, raw_ip=have.raw_ip, hostname=have.hostname, ready=True,
                        pod_name=have.pod_name, ports=base + extra,
                    )
    return tuple(merged.values())


Key = tuple[str, str]  # (namespace, name)


class ClusterIndex:
    """Services, ready endpoints, namespaces (and pods) indexed for DNS answers.

    Feed it watch events with :meth:`apply`; call :meth:`mark_synced` once the initial lists are
    applied. Readers use the lookup methods; :attr:`generation` changes whenever an answer may.
    """

    def __init__(self, *, track_pods: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.track_pods = track_pods
        self._clock = clock
        self.generation = 0
        self.serial = int(clock())
        self.synced = False
        self._services: dict[Key, ServiceInfo] = {}
        self._slices: dict[Key, SliceInfo] = {}  # (ns, slice name)
        self._slices_by_svc: dict[Key, dict[str, SliceInfo]] = {}
        self._endpoints: dict[Key, tuple[EndpointAddress, ...]] = {}
        self._svc_by_ip: dict[str, list[Key]] = {}
        self._ep_by_ip: dict[str, list[Key]] = {}
        self._ns_objects: set[str] = set()
        self._ns_services: dict[str, int] = {}
        self._pods: dict[Key, tuple[str, ...]] = {}
        self._pods_by_ip: dict[str, list[Key]] = {}

    @classmethod
    def for_config(cls, config, **kwargs) -> ClusterIndex:
        """An index that tracks pods exactly when ``config.pods == "verified"`` needs them."""
        return cls(track_pods=config.pods == "verified", **kwargs)

    # -- feeding ----------------------------------------------------------------------------

    def apply(self, kind: str, event_type: str, obj: dict) -> bool:
        """Apply one watch event; return True if anything DNS can see changed.

        ``kind`` is Service, EndpointSlice, Namespace or Pod; ``event_type`` is ADDED, MODIFIED or
        DELETED (BOOKMARK, ERROR and unknown kinds are ignored). ``obj`` is the object as the API
        returns it. Malformed objects are stripped as far as they go, never raise.
        """
        if event_type not in ("ADDED", "MODIFIED", "DELETED"):
            return False
        deleted = event_type == "DELETED"
        obj = _d(obj)
        meta = _d(obj.get("metadata"))
        if kind == "Service":
            changed = self._apply_service(meta, obj, deleted)
        elif kind == "EndpointSlice":
            changed = self._apply_slice(meta, obj, deleted)
        elif kind == "Namespace":
            name = _s(meta.get("name"))
            had = name in self._ns_objects
            if deleted:
                self._ns_objects.discard(name)
            else:
                self._ns_objects.add(name)
            changed = had == deleted
            if changed:
                self.generation += 1
            return changed
        elif kind == "Pod":
            if not self.track_pods:
                return False
            changed = self._apply_pod(meta, obj, deleted)
        else:
            return False
        if changed:
            self.generation += 1
            self.serial = max(self.serial, int(self._clock()))
        return changed

    def mark_synced(self) -> None:
        """The initial lists are applied: name errors are NXDOMAIN from now on, not SERVFAIL."""
        if not self.synced:
            self.synced = True
            self.generation += 1

    def _apply_service(self, meta: dict, obj: dict, deleted: bool) -> bool:
        key = (_s(meta.get("namespace"), "default"), _s(meta.get("name")))
        old = self._services.get(key)
        new = None if deleted else to_service(obj)
        if old == new:
            return False
        if old is not None:
            for ip in old.cluster_ips:
                owners = self._svc_by_ip.get(ip)
                if owners is not None and key in owners:
                    owners.remove(key)
                    if not owners:
                        del self._svc_by_ip[ip]
            n = self._ns_services.get(key[0], 0) - 1
            if n > 0:
                self._ns_services[key[0]] = n
            else:
                self._ns_services.pop(key[0], None)
        if new is None:
            del self._services[key]
            return True
        self._services[key] = new
        for ip in new.cluster_ips:
            self._svc_by_ip.setdefault(ip, []).append(key)
        self._ns_services[key[0]] = self._ns_services.get(key[0], 0) + 1
        return True

    def _apply_slice(self, meta: dict, obj: dict, deleted: bool) -> bool:
        skey = (_s(meta.get("namespace"), "default"), _s(meta.get("name")))
        old = self._slices.get(skey)
        new = None if deleted else to_slice(obj)
        if new is not None and not new.service:
            new = None  # not (or no longer) owned by a service: invisible to DNS
        if old == new:
            return False
        touched: set[Key] = set()
        if old is not None:
            svc_key = (old.namespace, old.service)
            group = self._slices_by_svc.get(svc_key)
            if group is not None:
                group.pop(old.name, None)
                if not group:
                    del self._slices_by_svc[svc_key]
            del self._slices[skey]
            touched.add(svc_key)
        if new is not None:
            svc_key = (new.namespace, new.service)
            self._slices_by_svc.setdefault(svc_key, {})[new.name] = new
            self._slices[skey] = new
            touched.add(svc_key)
        changed = False
        for svc_key in touched:
            changed |= self._rebuild_endpoints(svc_key)
        return changed

    def _rebuild_endpoints(self, svc_key: Key) -> bool:
        group = self._slices_by_svc.get(svc_key)
        new = _merge(group[name] for name in sorted(group)) if group else ()
        old = self._endpoints.get(svc_key, ())
        if new == old:
            return False
        for ep in old:
            owners = self._ep_by_ip.get(ep.ip)
            if owners is not None and svc_key in owners:
                owners.remove(svc_key)
                if not owners:
                    del self._ep_by_ip[ep.ip]
        if new:
            self._endpoints[svc_key] = new
            for ep in new:
                self._ep_by_ip.setdefault(ep.ip, []).append(svc_key)
        else:
            self._endpoints.pop(svc_key, None)
        return True

    def _apply_pod(self, meta: dict, obj: dict, deleted: bool) -> bool:
        key = (_s(meta.get("namespace"), "default"), _s(meta.get("name")))
        status = _d(obj.get("status"))
        ips: tuple[str, ...] = ()
        if not deleted and _s(status.get("phase")) not in _DEAD_POD_PHASES:
            raw = [_d(p).get("ip") for p in _l(status.get("podIPs"))] or [status.get("podIP")]
            ips = tuple(dict.fromkeys(n for n in (normalize_ip(r) for r in raw if isinstance(r, str)) if n))
        old = self._pods.get(key, ())
        if old == ips:
            return False
        for ip in old:
            owners = self._pods_by_ip.get(ip)
            if owners is not None and key in owners:
                owners.remove(key)
                if not owners:
                    del self._pods_by_ip[ip]
        if ips:
            self._pods[key] = ips
            for ip in ips:
                self._pods_by_ip.setdefault(ip, []).append(key)
        else:
            self._pods.pop(key, None)
        return True

    # -- lookups (the narrow interface the answer code uses) ----------------------------------

    def service(self, namespace: str, name: str) -> ServiceInfo | None:
        return self._services.get((namespace, name))

    def endpoints(self, namespace: str, name: str) -> tuple[EndpointAddress, ...]:
        """Ready endpoint addresses of a service, merged across its slices."""
        return self._endpoints.get((namespace, name), ())

    def services_by_cluster_ip(self, ip: str) -> list[ServiceInfo]:
        """Services whose ClusterIPs include ``ip`` (normalised), sorted by (namespace, name)."""
        return [self._services[k] for k in sorted(self._svc_by_ip.get(ip, ()))]

    def endpoint_owners(self, ip: str) -> list[tuple[ServiceInfo | None, str, str, EndpointAddress]]:
        """``(service or None, namespace, service name, address)`` for every ready endpoint ``ip``."""
        out = []
        for ns, name in sorted(self._ep_by_ip.get(ip, ())):
            for ep in self._endpoints.get((ns, name), ()):
                if ep.ip == ip:
                    out.append((self._services.get((ns, name)), ns, name, ep))
        return out

    def namespace_exists(self, namespace: str) -> bool:
        return namespace in self._ns_objects or namespace in self._ns_services

    def pods_by_ip(self, ip: str) -> list[Key]:
        """``(namespace, name)`` of live pods with this IP (only filled with ``track_pods``)."""
        return list(self._pods_by_ip.get(ip, ()))

    def counts(self) -> dict[str, int]:
        """Object counts, for logs and benchmarks."""
        return {
            "services": len(self._services),
            "endpointslices": len(self._slices),
            "endpoints": sum(len(v) for v in self._endpoints.values()),
            "namespaces": len(self._ns_objects | set(self._ns_services)),
            "pods": len(self._pods),
        }
