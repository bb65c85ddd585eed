"""What the cloud load balancer should listen on and where it forwards: a pure function of
the Services and Nodes it watches.

Theory of operation
-------------------
A cloud provider's load balancer in front of a Kubernetes cluster owns the LoadBalancer VIPs
and forwards to the Service's **NodePort on every eligible node**; the node proxies take it
from there. :func:`plan_frontends` turns the watched objects into :class:`Frontend` values:

1. Every ``status.loadBalancer.ingress[].ip`` of a ``type: LoadBalancer`` Service (``ipMode``
   VIP or unset) and every port of it with a ``nodePort`` gives one frontend
   ``(protocol, ip, port)``. Ports without a nodePort (``allocateLoadBalancerNodePorts:
   false``) and SCTP ports are skipped with a reason.
2. Targets are ``(node, nodeIP, nodePort)`` for every node with an address (InternalIP
   preferred, else ExternalIP), except nodes labelled
   ``node.kubernetes.io/exclude-from-external-load-balancers`` and nodes being deleted.
3. The health check of a target: with ``externalTrafficPolicy: Cluster`` the node proxy's
   ``/healthz`` on ``nodeIP:<healthz port>`` (any node can serve); with ``Local``
   ``http://nodeIP:<healthCheckNodePort>/`` (200 only where the Service has local endpoints),
   as cloud providers configure them (KEP-1669 and ``pkg/proxy/healthcheck``).
4. ``loadBalancerSourceRanges`` are enforced here, at the VIP.
5. Two Services claiming the same ``(protocol, ip, port)``: the first by namespace/name wins.

Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EXCLUDE_LABEL", "Frontend", "HealthKey", "Target", "node_address", "plan_frontends"]

EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"

#: (node IP, port, path) of one HTTP health check
HealthKey = tuple[str, int, str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    node: str
    ip: str
    port: int
    health: HealthKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Frontend:
    protocol: str
    ip: str
    port: int
    #: "ns/name:port" (upstream ServicePortName string)
    service: str
    node_port: int
    local: bool
    targets: tuple[Target, ...]
    source_ranges: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.protocol, self.ip, self.port)


def node_address(node: dict) -> str:
    """InternalIP, else ExternalIP, else ""."""
    addrs = ((node.get("status") or {}).get("addresses")) or []
    for kind in ("InternalIP", "ExternalIP"):
        for a in addrs:
            if a.get("type") == kind and a.get("address"):
                return a["address"]
    return ""


def _eligible(node: dict) -> bool:
    md = node.get("metadata") or {}
    return EXCLUDE_LABEL not in (md.get("labels") or {}) and not md.get("deletionTimestamp")


def plan_frontends(
    services: list[dict], nodes: list[dict], *, healthz_port: int = 10256
) -> tuple[dict[tuple[str, str, int], Frontend], list[str]]:
    """Frontends by ``(protocol, ip, port)`` and the reasons for what was skipped."""
    node_ips = sorted(
        (n["metadata"]["name"], ip)
        for n in nodes
        if _eligible(n) and (ip := node_address(n))
    )
    out: dict[tuple[str, str, int], Frontend] = {}
    skipped: list[str] = []
    for svc in sorted(services, key=lambda s: (s["metadata"].get("namespace", ""), s["metadata"]["name"])):
        spec = svc.get("spec") or {}
        if spec.get("type") != "LoadBalancer":
            continue
        md = svc["metadata"]
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        vips = [i["ip"] for i in ingress if i.get("ip") and i.get("ipMode", "VIP") in (None, "VIP")]
        local = spec.get("externalTrafficPolicy") == "Local"
        hc_port = int(spec.get("healthCheckNodePort") or 0)
        ranges = tuple(r.strip() for r in spec.get("loadBalancerSourceRanges") or [])
        for p in spec.get("ports") or []:
            proto = p.get("protocol", "TCP")
            name = f"{md.get('namespace', '')}/{md['name']}" + (f":{p['name']}" if p.get("name") else "")
            node_port = int(p.get("nodePort") or 0)
            for vip in vips:
                where = f"{proto} {vip}:{p['port']} ({name})"
                if proto not in ("TCP", "UDP"):
                    skipped.append(f"{where}: protocol {proto} is not supported")
                    continue
                if not node_port:
                    skipped.append(f"{where}: no nodePort")
                    continue
                if local and not hc_port:
                    skipped.append(f"{where}: externalTrafficPolicy Local without healthCheckNodePort")
                    continue
                key = (proto, vip, int(p["port"]))
                if key in out:
                    skipped.append(f"{where}: already used by {out[key].service}")
                    continue
                targets = tuple(
                    Target(
                        node=node,
                        ip=ip,
                        port=node_port,
                        health=(ip, hc_port, "/") if local else (ip, healthz_port, "/healthz"),
                    )
                    for node, ip in node_ips
                )
                out[key] = Frontend(
                    protocol=proto, ip=vip, port=int(p["port"]), service=name, node_port=node_port,
                    local=local, targets=targets, source_ranges=ranges,
                )
    return out, skipped
