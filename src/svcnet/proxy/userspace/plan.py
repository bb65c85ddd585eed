"""What the userspace proxy should listen on: a pure function of the proxy model.

Theory of operation
-------------------
:func:`plan` turns the :class:`~svcnet.proxy.model.ServicePortMap`, the
:class:`~svcnet.proxy.model.EndpointsMap` and this node's :class:`NodeConfig` into a
:class:`Plan`: the **listeners** (``protocol, ip, port``) the data plane must own, the
**balancers** they share, the **health-check servers** (``healthCheckNodePort``) and the
**skipped** addresses with the reason. It never does I/O (a test enforces it), so every rule
below is checked by a table of cases.

Rules, per service port (upstream ``pkg/proxy`` semantics, ``reference/kube-proxy.md`` §0, §5):

1. Every address of a service port is one listener: the ClusterIP at ``port`` (if this node
   binds ClusterIPs), each externalIP at ``port`` (same switch), each LoadBalancer ingress IP at
   ``port`` (if this node binds LB VIPs) and each node IP at ``nodePort``.
2. **Internal** traffic (the ClusterIP) uses the *local* endpoint set when
   ``internalTrafficPolicy: Local`` (KEP-2086), else the *cluster* set. **External** traffic
   (externalIPs, LB VIPs, NodePorts) uses the local set when ``externalTrafficPolicy: Local``,
   else the cluster set. The sets come from :func:`categorize_endpoints`, so serving-terminating
   endpoints are used only as its fallback (KEP-1669) and topology hints filter the cluster set.
   (A userspace proxy cannot tell pod- or host-originated external traffic from outside
   traffic, so upstream's short-circuit of such traffic to the cluster set is not modelled.)
3. **A listener exists only while its set has endpoints.** With none, the port is not listened
   on, so a client's connect is refused at once (the kernel answers RST) -- the userspace
   analogue of upstream's REJECT -- and the address is reported in ``skipped``.
4. Listeners of one service port with the same policy share one :class:`BalancerSpec`
   (``(service port, policy)``): one scheduler state and one affinity table, as upstream's
   userspace mode had one socket per service port behind all of its addresses.
5. The scheduler is the ``svcnet.io/scheduler`` annotation, else the node default (``rr``, as
   kube-proxy's IPVS mode); an unknown name or bad flags fall back to the default / no flags
   with a warning. Session affinity is ``ClientIP`` ``timeoutSeconds`` (0: none).
6. SCTP is not supported by this data plane: skipped with a reason. Addresses of the other IP
   family than the service's are ignored.
7. Two service ports wanting the same ``protocol, ip, port`` (possible with externalIPs): the
   first by service-port name wins, the other is skipped as a conflict.
8. A LoadBalancer + ``externalTrafficPolicy: Local`` service gets one health-check server per
   node IP on its ``healthCheckNodePort``; it reports the number of distinct IPs of this node's
   **ready** endpoints over all the service's ports (``pkg/proxy/healthcheck``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field

from svcnet.proxy.model import (
    EndpointInfo,
    ServicePortInfo,
    ServicePortName,
    categorize_endpoints,
)
from svcnet.proxy.schedulers import SCHEDULERS, parse_sched_flags

__all__ = [
    "BalancerKey",
    "BalancerSpec",
    "HealthCheckSpec",
    "ListenerKey",
    "ListenerSpec",
    "NodeConfig",
    "Plan",
    "Skipped",
    "plan",
]

#: (service port, "cluster" | "local")
BalancerKey = tuple[ServicePortName, str]
#: (protocol, ip, port)
ListenerKey = tuple[str, str, int]

#: the protocols this data plane forwards
SUPPORTED_PROTOCOLS = ("TCP", "UDP")


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeConfig:
    """What the plan needs to know about the node the proxy runs on."""

    node_name: str = ""
    node_ips: tuple[str, ...] = ()
    node_labels: Mapping[str, str] = field(default_factory=dict)
    #: own ClusterIPs and externalIPs (in local mode only the first node agent does)
    bind_cluster_ips: bool = True
    #: own LoadBalancer VIPs (False when a cloud LB in front owns them)
    bind_lb_ips: bool = True
    #: own ``nodeIP:nodePort`` for every node IP
    bind_node_ports: bool = True
    default_scheduler: str = "rr"


@dataclass(frozen=True, slots=True, kw_only=True)
class BalancerSpec:
    """One scheduler + affinity table, shared by listeners of one service port and policy."""

    key: BalancerKey
    protocol: str
    #: the service's ClusterIP (the virtual service address the scheduler sees)
    vip: str
    endpoints: tuple[EndpointInfo, ...]
    affinity_seconds: int = 0
    scheduler: str = "rr"
    scheduler_flags: tuple[str, ...] = ()

    @property
    def service(self) -> ServicePortName:
        return self.key[0]

    @property
    def policy(self) -> str:
        return self.key[1]


@dataclass(frozen=True, slots=True, kw_only=True)
class ListenerSpec:
    protocol: str
    ip: str
    port: int
    #: ClusterIP | ExternalIP | LoadBalancer | NodePort
    kind: str
    balancer: BalancerKey
    #: loadBalancerSourceRanges (LoadBalancer listeners only; empty: everyone)
    source_ranges: tuple[str, ...] = ()

    @property
    def key(self) -> ListenerKey:
        return (self.protocol, self.ip, self.port)

    @property
    def service(self) -> ServicePortName:
        return self.balancer[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class Skipped:
    """An address of a service port that gets no listener, and why."""

    service: ServicePortName
    protocol: str
    ip: str
    port: int
    kind: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthCheckSpec:
    namespace: str
    name: str
    port: int
    #: distinct IPs of this node's ready endpoints of the service
    local_endpoints: int
    ips: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    listeners: dict[ListenerKey, ListenerSpec]
    balancers: dict[BalancerKey, BalancerSpec]
    health_checks: dict[tuple[str, str], HealthCheckSpec]
    skipped: tuple[Skipped, ...] = ()
    warnings: tuple[str, ...] = ()


def _family(ip: str) -> int:
    try:
        return ipaddress.ip_address(ip).version
    except ValueError:
        return 0


def _scheduler(info: ServicePortInfo, node: NodeConfig, warnings: list[str]) -> tuple[str, tuple[str, ...]]:
    name = info.scheduler or node.default_scheduler
    if name not in SCHEDULERS:
        warnings.append(f"{info.name}: unknown scheduler {name!r}; using {node.default_scheduler!r}")
        name = node.default_scheduler
    flags = info.scheduler_flags
    if flags:
        try:
            parse_sched_flags(flags)
        except ValueError as e:
            warnings.append(f"{info.name}: {e}; ignoring the scheduler flags")
            flags = ()
    return name, flags


def _addresses(info: ServicePortInfo, node: NodeConfig) -> list[tuple[str, str, int, str]]:
    """(kind, ip, port, traffic) for every address of the service port this node owns."""
    fam = _family(info.cluster_ip)
    out: list[tuple[str, str, int, str]] = []
    if node.bind_cluster_ips:
        out.append(("ClusterIP", info.cluster_ip, info.port, "internal"))
        out.extend(("ExternalIP", ip, info.port, "external") for ip in info.external_ips)
    if node.bind_lb_ips:
        out.extend(("LoadBalancer", ip, info.port, "external") for ip in info.load_balancer_vips)
    if node.bind_node_ports and info.node_port:
        out.extend(("NodePort", ip, info.node_port, "external") for ip in node.node_ips)
    return [a for a in out if _family(a[1]) == fam]


def plan(
    services: Mapping[ServicePortName, ServicePortInfo],
    endpoints: Mapping[ServicePortName, list[EndpointInfo]],
    node: NodeConfig,
) -> Plan:
    """The desired listeners, balancers and health checks (see the module rules)."""
    listeners: dict[ListenerKey, ListenerSpec] = {}
    balancers: dict[BalancerKey, BalancerSpec] = {}
    skipped: list[Skipped] = []
    warnings: list[str] = []
    local_ips: dict[tuple[str, str], set[str]] = {}
    hc_ports: dict[tuple[str, str], int] = {}

    for spn in sorted(services):
        info = services[spn]
        eps = list(endpoints.get(spn) or ())
        if info.health_check_node_port:
            svc_key = spn.service
            hc_ports[svc_key] = info.health_check_node_port
            ips = local_ips.setdefault(svc_key, set())
            ips.update(ep.ip for ep in eps if ep.is_local and ep.ready)
        addrs = _addresses(info, node)
        if info.protocol not in SUPPORTED_PROTOCOLS:
            skipped.extend(
                Skipped(service=spn, protocol=info.protocol, ip=ip, port=port, kind=kind,
                        reason=f"protocol {info.protocol} is not supported by the userspace proxy")
                for kind, ip, port, _ in addrs
            )
            continue
        cat = categorize_endpoints(eps, info, dict(node.node_labels))
        sched, flags = _scheduler(info, node, warnings)
        for kind, ip, port, traffic in addrs:
            local = info.internal_policy_local if traffic == "internal" else info.external_policy_local
            policy = "local" if local else "cluster"
            chosen = (cat.local if local else cat.cluster) or ()
            if not chosen:
                reason = "no local endpoints" if local else "no endpoints"
                skipped.append(Skipped(service=spn, protocol=info.protocol, ip=ip, port=port, kind=kind, reason=reason))
                continue
            key: ListenerKey = (info.protocol, ip, port)
            have = listeners.get(key)
            if have is not None:
                skipped.append(Skipped(
                    service=spn, protocol=info.protocol, ip=ip, port=port, kind=kind,
                    reason=f"{info.protocol} {ip}:{port} is already used by {have.service} ({have.kind})",
                ))
                continue
            bkey: BalancerKey = (spn, policy)
            if bkey not in balancers:
                balancers[bkey] = BalancerSpec(
                    key=bkey,
                    protocol=info.protocol,
                    vip=info.cluster_ip,
                    endpoints=tuple(chosen),
                    affinity_seconds=info.session_affinity_seconds,
                    scheduler=sched,
                    scheduler_flags=flags,
                )
            listeners[key] = ListenerSpec(
                protocol=info.protocol,
                ip=ip,
                port=port,
                kind=kind,
                balancer=bkey,
                source_ranges=info.load_balancer_source_ranges if kind == "LoadBalancer" else (),
            )

    health = {
        key: HealthCheckSpec(
            namespace=key[0], name=key[1], port=port, local_endpoints=len(local_ips.get(key, ())),
            ips=tuple(ip for ip in node.node_ips),
        )
        for key, port in sorted(hc_ports.items())
    }
    return Plan(
        listeners=listeners,
        balancers=balancers,
        health_checks=health,
        skipped=tuple(skipped),
        warnings=tuple(warnings),
    )
