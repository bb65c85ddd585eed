"""Service ports as a node proxy sees them (upstream ``pkg/proxy/serviceport.go``, ``types.go``).

Theory of operation
-------------------
A Service becomes one :class:`ServicePortInfo` per port, keyed by :class:`ServicePortName`
(``ns/name:port`` plus the protocol), for ONE IP family: each proxier handles a single family,
as kube-proxy does (dual-stack runs two). :func:`service_port_infos` is the only conversion from
the API object; it keeps just what a data plane needs.

Rules (``proxyutil.ShouldSkipService``, ``newBaseServiceInfo``):
- headless (``clusterIP`` None or empty) and ExternalName Services get no ports at all;
- externalIPs, LoadBalancer ingress IPs and source ranges of the other family are dropped;
- a LoadBalancer ingress with ``ipMode: Proxy`` is not a VIP for us (the LB proxies to the
  node itself);
- ``healthCheckNodePort`` is kept only when the Service needs one (LoadBalancer + ETP Local).

Nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = [
    "SCHEDULER_ANNOTATION",
    "SCHEDULER_FLAGS_ANNOTATION",
    "ServicePortInfo",
    "ServicePortName",
    "ip_family",
    "service_port_infos",
    "should_skip_service",
]

#: per-Service choice of scheduler for the userspace and IPVS data planes
SCHEDULER_ANNOTATION = "svcnet.io/scheduler"
#: per-Service scheduler flags (``sh-port``, ``sh-fallback``, ``mh-port``, ``mh-fallback``)
SCHEDULER_FLAGS_ANNOTATION = "svcnet.io/scheduler-flags"


@dataclass(frozen=True, slots=True, order=True)
class ServicePortName:
    """``ns/name:port`` + protocol; ``str()`` is upstream's ``ServicePortName.String()``."""

    namespace: str
    name: str
    port: str = ""
    protocol: str = "TCP"

    @property
    def service(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    def __str__(self) -> str:
        s = f"{self.namespace}/{self.name}"
        return f"{s}:{self.port}" if self.port else s


def ip_family(ip: str) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServicePortInfo:
    name: ServicePortName
    cluster_ip: str
    port: int
    protocol: str
    node_port: int = 0
    target_port: int | str = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_vips: tuple[str, ...] = ()
    load_balancer_source_ranges: tuple[str, ...] = ()
    session_affinity_seconds: int = 0  # 0 = no ClientIP affinity
    external_policy_local: bool = False
    internal_policy_local: bool = False
    health_check_node_port: int = 0
    traffic_distribution: str = ""
    scheduler: str = ""
    scheduler_flags: tuple[str, ...] = ()

    def externally_accessible(self) -> bool:
        return self.node_port != 0 or bool(self.load_balancer_vips) or bool(self.external_ips)

    def uses_cluster_endpoints(self) -> bool:
        """Internal traffic with ITP Cluster, or any externally accessible port (external
        traffic of pods and of the node itself short-circuits to the cluster set)."""
        return not self.internal_policy_local or self.externally_accessible()

    def uses_local_endpoints(self) -> bool:
        return self.internal_policy_local or (self.external_policy_local and self.externally_accessible())

    @property
    def session_affinity(self) -> bool:
        return self.session_affinity_seconds > 0


def should_skip_service(service: dict) -> bool:
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return True
    return spec.get("clusterIP") in (None, "", "None")


def _family_ip(spec: dict, family: str) -> str:
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    for ip in ips:
        if ip_family(ip) == family:
            return ip
    return ""


def _of_family(values: list[str], family: str) -> tuple[str, ...]:
    out = []
    for v in values or []:
        addr = v.split("/", 1)[0].strip()
        if ip_family(addr) == family:
            out.append(v.strip())
    return tuple(out)


def service_port_infos(service: dict, family: str = "IPv4") -> dict[ServicePortName, ServicePortInfo]:
    """Every port of ``service`` for ``family`` (empty for skipped services)."""
    if should_skip_service(service):
        return {}
    md = service.get("metadata") or {}
    spec = service.get("spec") or {}
    cluster_ip = _family_ip(spec, family)
    if not cluster_ip:
        return {}
    stype = spec.get("type", "ClusterIP")
    ext_ips = _of_family(spec.get("externalIPs") or [], family)
    # upstream reads the ingress whatever the type (a type change clears the status anyway)
    lb_ips = _of_family(
        [
            i["ip"]
            for i in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if i.get("ip") and i.get("ipMode", "VIP") in (None, "VIP")
        ],
        family,
    )
    has_node_ports = any(p.get("nodePort") for p in spec.get("ports") or [])
    externally_accessible = stype in ("NodePort", "LoadBalancer") or bool(spec.get("externalIPs"))
    etp_local = spec.get("externalTrafficPolicy") == "Local" and externally_accessible
    itp_local = spec.get("internalTrafficPolicy") == "Local"
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        affinity = int(((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds") or 10800)
    hc = int(spec.get("healthCheckNodePort") or 0) if stype == "LoadBalancer" and etp_local else 0
    annotations = md.get("annotations") or {}
    flags = tuple(f.strip() for f in (annotations.get(SCHEDULER_FLAGS_ANNOTATION) or "").split(",") if f.strip())
    out: dict[ServicePortName, ServicePortInfo] = {}
    for p in spec.get("ports") or []:
        proto = p.get("protocol", "TCP")
        spn = ServicePortName(md.get("namespace", "default"), md.get("name", ""), p.get("name") or "", proto)
        out[spn] = ServicePortInfo(
            name=spn,
            cluster_ip=cluster_ip,
            port=int(p.get("port") or 0),
            protocol=proto,
            node_port=int(p.get("nodePort") or 0) if has_node_ports else 0,
            target_port=p.get("targetPort", p.get("port", 0)),
            external_ips=ext_ips,
            load_balancer_vips=lb_ips,
            load_balancer_source_ranges=_of_family(spec.get("loadBalancerSourceRanges") or [], family),
            session_affinity_seconds=affinity,
            external_policy_local=etp_local,
            internal_policy_local=itp_local,
            health_check_node_port=hc,
            traffic_distribution=spec.get("trafficDistribution") or "",
            scheduler=(annotations.get(SCHEDULER_ANNOTATION) or "").strip(),
            scheduler_flags=flags,
        )
    return out
