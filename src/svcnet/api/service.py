"""Small pure predicates about a v1 Service, shared by validation, allocation, controllers, proxy.

Theory of operation
-------------------
Each predicate takes the whole Service object (a v1 JSON dict) and answers one question the
way upstream helpers do:

* :func:`is_headless`: ``clusterIPs == ["None"]`` (``isHeadlessService`` in core validation). A v1
  object not yet normalised (only ``clusterIP: None``) is read through :func:`cluster_ips`, so it
  counts as headless too.
* :func:`is_externally_accessible`: type LoadBalancer or NodePort, or ClusterIP with
  ``externalIPs`` (``pkg/api/service/util.go ExternallyAccessible``).
* :func:`requests_only_local_traffic` / :func:`needs_health_check`: ETP Local on a NodePort/LB
  Service; a health-check nodePort only for LoadBalancer with ETP Local.
* :func:`should_allocate_node_ports`: NodePort always; LoadBalancer unless
  ``allocateLoadBalancerNodePorts`` is false (registry ``alloc.go shouldAllocateNodePorts``).
* :func:`normalize_cluster_ips`: what the registry does before validating a create
  (``clusterIP`` set and ``clusterIPs`` empty -> ``clusterIPs = [clusterIP]``). The reverse is
  not done on purpose: sending only ``clusterIPs`` is an error (service-api.md §0.1, rule 20).

Nothing here does I/O.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CLUSTER_IP_NONE",
    "cluster_ips",
    "is_externally_accessible",
    "is_headless",
    "needs_health_check",
    "normalize_cluster_ips",
    "requests_only_local_traffic",
    "service_type",
    "should_allocate_node_ports",
]

CLUSTER_IP_NONE = "None"


def _spec(svc: Any) -> dict:
    if not isinstance(svc, dict):
        return {}
    spec = svc.get("spec")
    return spec if isinstance(spec, dict) else {}


def service_type(svc: Any) -> str:
    """``spec.type``, with the v1 default (``ClusterIP``) when absent."""
    return _spec(svc).get("type") or "ClusterIP"


def cluster_ips(svc: Any) -> list[str]:
    """``spec.clusterIPs``, or ``[spec.clusterIP]`` when only the singular field is set."""
    spec = _spec(svc)
    ips = spec.get("clusterIPs")
    if ips:
        return list(ips)
    ip = spec.get("clusterIP")
    return [ip] if ip else []


def is_headless(svc: Any) -> bool:
    return cluster_ips(svc) == [CLUSTER_IP_NONE]


def is_externally_accessible(svc: Any) -> bool:
    t = service_type(svc)
    return t in ("LoadBalancer", "NodePort") or (t == "ClusterIP" and bool(_spec(svc).get("externalIPs")))


def requests_only_local_traffic(svc: Any) -> bool:
    """ETP ``Local`` on a NodePort or LoadBalancer Service."""
    t = service_type(svc)
    if t not in ("LoadBalancer", "NodePort"):
        return False
    return _spec(svc).get("externalTrafficPolicy") == "Local"


def needs_health_check(svc: Any) -> bool:
    """True when the Service needs a ``healthCheckNodePort`` (type LoadBalancer, ETP Local)."""
    return service_type(svc) == "LoadBalancer" and requests_only_local_traffic(svc)


def should_allocate_node_ports(svc: Any) -> bool:
    t = service_type(svc)
    if t == "NodePort":
        return True
    if t == "LoadBalancer":
        v = _spec(svc).get("allocateLoadBalancerNodePorts")
        return v is None or bool(v)
    return False


def normalize_cluster_ips(svc: Any) -> Any:
    """In place: ``clusterIP`` set and ``clusterIPs`` empty -> ``clusterIPs = [clusterIP]``."""
    spec = _spec(svc)
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    return svc
