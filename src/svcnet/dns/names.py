"""Query names under a cluster zone: parsing and the small naming rules.

Theory of operation
-------------------
A query name is split into the longest served zone that is a suffix of it (CoreDNS
``plugin.Zones.Matches``) and the labels in front of the zone, the *base*. :func:`parse_request`
turns the base into a :class:`Request`, following CoreDNS ``plugin/kubernetes/parse.go``
``parseRequest`` label by label from the right:

====================================================  ==========================================
base (labels in front of the zone)                    result
====================================================  ==========================================
(empty), ``svc``, ``pod``                             ``Request()``: the name exists, no records
``<x>`` where x is not svc/pod                        InvalidRequest (NXDOMAIN)
``<ns>.svc`` / ``<ns>.pod``                           namespace only
``<svc>.<ns>.svc`` / ``<a-b-c-d>.<ns>.pod``           service (or pod label)
``<ep>.<svc>.<ns>.svc``                               endpoint
``<port>.<proto>.<svc>.<ns>.svc``                     port and protocol; one leading ``_`` is
                                                      stripped from each, and the underscores are
                                                      optional (CoreDNS, non-multicluster zones)
anything longer                                       InvalidRequest (NXDOMAIN)
====================================================  ==========================================

Labels are compared lowercased (``reference/dns.md`` §2.1: "All comparisons ... are
case-insensitive"); labels are bytes on the wire and are handled here as ``latin-1`` text
lowercased in ASCII only, like DNS itself.

The error tree (all three are *name errors*: NXDOMAIN, or SERVFAIL before the first sync,
or passed upstream when fallthrough applies -- CoreDNS ``IsNameError``)::

    DNSNameError
     ├── InvalidRequest        (errInvalidRequest: a name shape we do not serve)
     ├── NamespaceNotExposed   (errNsNotExposed)
     └── NoItems               (errNoItems: nothing by that name)

Nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from svcnet.dns.index import EndpointAddress

__all__ = [
    "DNSNameError",
    "InvalidRequest",
    "NamespaceNotExposed",
    "NoItems",
    "Request",
    "endpoint_hostname",
    "match_zone",
    "parse_request",
    "pod_label_to_ip",
    "reverse_to_ip",
]


class DNSNameError(Exception):
    """The query name does not exist (a name error)."""


class InvalidRequest(DNSNameError):
    """The query name has a shape we do not serve."""


class NamespaceNotExposed(DNSNameError):
    """The namespace does not exist or is not exposed."""


class NoItems(DNSNameError):
    """No service, endpoint, port or pod matches."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """What a query name asks for (CoreDNS ``recordRequest``). "" means "not given"."""

    port: str = ""  # port name, underscore stripped; "" = any port
    protocol: str = ""  # protocol, underscore stripped; "" = any protocol
    endpoint: str = ""  # endpoint hostname label
    service: str = ""  # service name, or the a-b-c-d pod label under "pod"
    namespace: str = ""
    pod_or_svc: str = ""  # "svc", "pod", or "" (apex, "svc" or "pod" alone: exists, no records)

    def __str__(self) -> str:
        # The shape CoreDNS parse_test.go compares: port.protocol.endpoint.cluster.service.ns.kind
        # (the multicluster "cluster" field is always empty here).
        return ".".join((self.port, self.protocol, self.endpoint, "", self.service, self.namespace, self.pod_or_svc))


def _strip_underscore(label: str) -> str:
    return label[1:] if label.startswith("_") else label


def parse_request(base: tuple[str, ...]) -> Request:
    """Parse the lowercased labels in front of the zone (leftmost first).

    :raises InvalidRequest: the shape is not one we serve.
    """
    n = len(base)
    if n == 0 or (n == 1 and base[0] in ("svc", "pod")):
        return Request()
    kind = base[-1]
    if kind not in ("svc", "pod"):
        raise InvalidRequest(".".join(base))
    if n == 2:
        return Request(namespace=base[0], pod_or_svc=kind)
    if n == 3:
        return Request(service=base[0], namespace=base[1], pod_or_svc=kind)
    if n == 4:
        return Request(endpoint=base[0], service=base[1], namespace=base[2], pod_or_svc=kind)
    if n == 5:
        return Request(
            port=_strip_underscore(base[0]),
            protocol=_strip_underscore(base[1]),
            service=base[2],
            namespace=base[3],
            pod_or_svc=kind,
        )
    raise InvalidRequest(".".join(base))


def match_zone(labels: tuple[str, ...], zones: tuple[tuple[str, ...], ...]) -> int:
    """Index into ``zones`` (label tuples, longest first) of the zone ``labels`` ends with, or -1."""
    n = len(labels)
    for i, z in enumerate(zones):
        k = len(z)
        if k == 0 or (k <= n and labels[n - k :] == z):
            return i
    return -1


def endpoint_hostname(ep: EndpointAddress, pod_names: bool) -> str:
    """The endpoint's DNS label (CoreDNS ``endpointHostname``, ``reference/dns.md`` §1.6).

    ``hostname``; else, with ``endpoint_pod_names``, the pod name if it fits a label (< 64);
    else the IP as written with ``.``/``:`` turned into ``-`` and a ``0`` added after a trailing
    ``-`` (``2001:db8::`` -> ``2001-db8--0``).
    """
    if ep.hostname:
        return ep.hostname
    if pod_names and ep.pod_name and len(ep.pod_name) < 64:
        return ep.pod_name
    ip = ep.raw_ip
    if "." in ip and ":" not in ip:
        return ip.replace(".", "-")
    label = ip.replace(":", "-")
    return label + "0" if label.endswith("-") else label


def pod_label_to_ip(label: str) -> str | None:
    """The IP a pod label encodes (CoreDNS ``findPods``), or None.

    Exactly three dashes and no ``--`` is IPv4 (``10-240-0-1``); anything else is IPv6 with
    ``-`` for ``:`` (``5678-abcd--1``).
    """
    if label.count("-") == 3 and "--" not in label:
        text = label.replace("-", ".")
    else:
        text = label.replace("-", ":")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


_HEX = frozenset("0123456789abcdef")


def reverse_to_ip(labels: tuple[str, ...]) -> str | None:
    """The IP a full reverse name encodes (CoreDNS ``ExtractAddressFromReverse``), or None.

    ``labels`` are lowercased, leftmost first, including ``in-addr``/``ip6`` and ``arpa``.
    Partial names (``0.10.in-addr.arpa``) are not addresses.
    """
    if len(labels) == 6 and labels[4:] == ("in-addr", "arpa"):
        octets = labels[3::-1]
        for o in octets:
            if not o.isdigit() or not o.isascii() or len(o) > 3 or (len(o) > 1 and o[0] == "0") or int(o) > 255:
                return None
        return ".".join(octets)
    if len(labels) == 34 and labels[32:] == ("ip6", "arpa"):
        nibbles = labels[31::-1]
        if not all(len(x) == 1 and x in _HEX for x in nibbles):
            return None
        text = "".join(nibbles)
        return str(ipaddress.IPv6Address(int(text, 16)))
    return None
