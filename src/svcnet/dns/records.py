"""From a parsed query name to backend items: CoreDNS ``kubernetes.go`` over :class:`ClusterIndex`.

Theory of operation
-------------------
An :class:`Item` is CoreDNS's ``msg.Service``: one address (or CNAME target) with a port and the
labels of the name it lives at. The answer code (:mod:`svcnet.dns.answer`) turns items into
A/AAAA/SRV/CNAME records; this module only decides *which* items exist, and raises a
:class:`~svcnet.dns.names.DNSNameError` when the name does not exist at all. Rules, from
``Records``, ``findServices``, ``findPods`` and ``serviceRecordForIP`` (``reference/dns.md`` §1):

- Names under a reverse zone that are not reverse addresses, but parse as a service shape, are
  name errors (``IsReverse(name) > 0 -> errNoItems``).
- The namespace must be *exposed*: listed in ``config.namespaces`` when that is set, else existing
  in the index (a Namespace object or any Service in it). ``<ns>.svc`` / ``<ns>.pod`` alone exist
  with no items (NODATA).
- ExternalName: one CNAME item unless the request names an endpoint/port/protocol below it
  (NXDOMAIN), or the externalName is an IP literal (not a CNAME: NXDOMAIN).
- Headless services, and any service when an endpoint label is given (CoreDNS extension:
  ``<ep>.<svc>`` works for ClusterIP services too): one item per (ready endpoint address x port)
  matching the endpoint label, port and protocol (case-insensitive; "" = any).
- Other services: one item per (ClusterIP x matching port). A service with zero endpoints still
  has items (``svcempty``); one without ports has the sentinel port -1 (A yes, SRV no).
- Pods (``<a-b-c-d>.<ns>.pod``): ``disabled`` -> name error; ``insecure`` -> the IP encoded in the
  label if it parses; ``verified`` -> only if a live pod in that namespace has that IP. Extra
  labels in front of a pod label are a name error (our grammar, ``dns.md`` §6.2; CoreDNS ignores
  them).
- Reverse: a ClusterIP match wins (the first service by namespace/name, in an exposed namespace);
  else every ready endpoint with that IP gives ``<ep>.<svc>.<ns>.svc.<zone>`` for each service
  selecting it; none -> name error.

Nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from svcnet.dns.config import DNSConfig
from svcnet.dns.index import ClusterIndex
from svcnet.dns.names import (
    InvalidRequest,
    NamespaceNotExposed,
    NoItems,
    Request,
    endpoint_hostname,
    parse_request,
    pod_label_to_ip,
)

__all__ = [
    "A",
    "AAAA",
    "CNAME",
    "Item",
    "find_pods",
    "find_services",
    "namespace_exposed",
    "ns_addresses",
    "records",
    "reverse",
]

# Host types (CoreDNS msg.Service.HostType), as the RR type numbers they become.
A, AAAA, CNAME = 1, 28, 5


@dataclass(frozen=True, slots=True)
class Item:
    host: str  # IP text, or the CNAME target as written in the Service
    kind: int  # A, AAAA or CNAME
    port: int  # -1: no port (never an SRV record)
    path: tuple[str, ...]  # labels of the item's own name, in front of the zone


def _ip_kind(ip: str) -> int:
    return AAAA if ":" in ip else A


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.rstrip("."))
        return True
    except ValueError:
        return False


def namespace_exposed(index: ClusterIndex, config: DNSConfig, namespace: str) -> bool:
    if config.namespaces is not None:
        return namespace in config.namespaces
    return index.namespace_exists(namespace)


def records(index: ClusterIndex, config: DNSConfig, base: tuple[str, ...], reverse_zone: bool) -> list[Item]:
    """Items at the name whose labels in front of the zone are ``base`` (CoreDNS ``Records``).

    :raises DNSNameError: the name does not exist.
    """
    req = parse_request(base)
    if not req.pod_or_svc:
        return []
    if reverse_zone:
        raise NoItems("service shape under a reverse zone")
    if not namespace_exposed(index, config, req.namespace):
        raise NamespaceNotExposed(req.namespace)
    if req.pod_or_svc == "pod":
        return find_pods(index, config, req)
    return find_services(index, config, req)


def _match(want: str, have: str) -> bool:
    return not want or want == have.lower()


def find_services(index: ClusterIndex, config: DNSConfig, req: Request) -> list[Item]:
    """Items of ``<[ep.|port.proto.]svc>.<ns>.svc`` (CoreDNS ``findServices``).

    :raises NoItems: no service, or nothing matched the endpoint/port/protocol.
    """
    if not req.service:
        return []  # <ns>.svc: exists (namespace checked by the caller), no items
    svc = index.service(req.namespace, req.service)
    if svc is None:
        raise NoItems(req.service)
    path = (svc.name, svc.namespace, "svc")
    if svc.type == "ExternalName":
        if req.endpoint or req.port or req.protocol:
            raise NoItems("below an ExternalName")
        target = svc.external_name
        if not target or _is_ip(target):
            raise NoItems("ExternalName is not a name")
        return [Item(target, CNAME, -1, path)]
    items: list[Item] = []
    if svc.headless or req.endpoint:
        pod_names = config.endpoint_pod_names
        for ep in index.endpoints(svc.namespace, svc.name):
            host = endpoint_hostname(ep, pod_names)
            if req.endpoint and req.endpoint != host.lower():
                continue
            kind = _ip_kind(ep.ip)
            ep_path = (host, *path)
            for p in ep.ports:
                if _match(req.port, p.name) and _match(req.protocol, p.protocol):
                    items.append(Item(ep.ip, kind, p.port, ep_path))
        if not items:
            raise NoItems("no matching endpoint")
        return items
    matched = False
    for p in svc.ports:
        if _match(req.port, p.name) and _match(req.protocol, p.protocol):
            matched = True
            for ip in svc.cluster_ips:
                items.append(Item(ip, _ip_kind(ip), p.port, path))
    if not matched:
        raise NoItems("no matching port")
    return items


def find_pods(index: ClusterIndex, config: DNSConfig, req: Request) -> list[Item]:
    """Items of ``<a-b-c-d>.<ns>.pod`` (CoreDNS ``findPods``).

    :raises NoItems: pods disabled, label is not an IP, or (verified) no such pod.
    """
    if config.pods == "disabled":
        raise NoItems("pods disabled")
    if not req.service:
        return []  # <ns>.pod
    if req.endpoint or req.port or req.protocol:
        raise InvalidRequest("labels below a pod name")
    ip = pod_label_to_ip(req.service)
    if ip is None:
        raise NoItems("pod label is not an IP")
    path = (req.service, req.namespace, "pod")
    if config.pods == "verified" and not any(ns == req.namespace for ns, _ in index.pods_by_ip(ip)):
        raise NoItems("no such pod")
    return [Item(ip, _ip_kind(ip), -1, path)]


def reverse(index: ClusterIndex, config: DNSConfig, ip: str) -> list[tuple[str, ...]]:
    """Labels (in front of the primary zone) of the names an IP maps back to.

    :raises NoItems: neither a ClusterIP nor a ready endpoint (in an exposed namespace).
    """
    restrict = config.namespaces is not None
    for svc in index.services_by_cluster_ip(ip):
        if restrict and svc.namespace not in config.namespaces:  # type: ignore[operator]
            continue
        return [(svc.name, svc.namespace, "svc")]
    out: list[tuple[str, ...]] = []
    for _svc, ns, name, ep in index.endpoint_owners(ip):
        if restrict and ns not in config.namespaces:  # type: ignore[operator]
            continue
        labels = (endpoint_hostname(ep, config.endpoint_pod_names), name, ns, "svc")
        if labels not in out:
            out.append(labels)
    if not out:
        raise NoItems(ip)
    return out


def ns_addresses(index: ClusterIndex, config: DNSConfig) -> list[tuple[tuple[str, ...] | None, str]]:
    """``(labels in front of the zone, ip)`` naming this server (CoreDNS ``nsAddrs``).

    The configured ``ns_service``'s ClusterIPs; else the ClusterIPs of services whose ready
    endpoints include one of ``local_ips`` (how CoreDNS finds kube-dns); else ``None`` labels
    (meaning ``ns.dns``) with the local IPs themselves.
    """
    out: list[tuple[tuple[str, ...] | None, str]] = []
    if config.ns_service:
        ns, _, name = config.ns_service.partition("/")
        svc = index.service(ns, name)
        if svc is not None:
            out = [((svc.name, svc.namespace, "svc"), ip) for ip in svc.cluster_ips]
    if not out:
        for local in config.local_ips:
            for svc, _ns, _name, _ep in index.endpoint_owners(str(ipaddress.ip_address(local))):
                if svc is not None:
                    out.extend(((svc.name, svc.namespace, "svc"), ip) for ip in svc.cluster_ips)
    if not out:
        out = [(None, str(ipaddress.ip_address(ip))) for ip in config.local_ips]
    return out
