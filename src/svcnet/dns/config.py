"""Configuration of the cluster DNS server, as one frozen value.

Theory of operation
-------------------
:class:`DNSConfig` mirrors the CoreDNS ``kubernetes`` plugin block of kubeadm's default Corefile
(``reference/dns.md`` §2.7)::

    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    forward . /etc/resolv.conf

with two differences in the defaults: the TTL is the plugin default (5 s, not kubeadm's 30) and the
server listens on ``127.0.0.1:10053`` (``docs/design.md``). Everything the pure answer code needs is
here; nothing here does I/O. ``upstreams=None`` means "the nameservers in /etc/resolv.conf", which
only the forwarder (an I/O edge) reads; ``upstreams=()`` means "no upstream": names outside our
zones are REFUSED (``dns.md`` §6.1) and reverse-zone fallthrough has nowhere to go, so those
queries get the NXDOMAIN they would have had without fallthrough.

Names are stored lowercased and without the trailing dot; :meth:`DNSConfig.validate` returns a
list of problems (empty when valid), it never raises.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

__all__ = ["DNSConfig", "POD_MODES"]

#: CoreDNS ``pods`` modes (plugin/kubernetes/README.md). ``insecure`` is kubeadm's choice.
POD_MODES = ("disabled", "insecure", "verified")


def _norm_zone(zone: str) -> str:
    return zone.strip().rstrip(".").lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class DNSConfig:
    zone: str = "cluster.local"
    #: Reverse zones served for PTR (CoreDNS accepts narrower ones, e.g. ``0.10.in-addr.arpa``).
    reverse_zones: tuple[str, ...] = ("in-addr.arpa", "ip6.arpa")
    #: TTL of every record we make (CoreDNS ``ttl``; 0..3600, default 5).
    ttl: int = 5
    #: ``disabled`` | ``insecure`` | ``verified`` (CoreDNS ``pods``).
    pods: str = "insecure"
    #: ``("host:port", ...)``; ``None`` = nameservers of /etc/resolv.conf; ``()`` = no upstream.
    upstreams: tuple[str, ...] | None = None
    #: CoreDNS ``endpoint_pod_names``: name endpoints without ``hostname`` by their pod name.
    endpoint_pod_names: bool = False
    #: kubeadm's ``fallthrough in-addr.arpa ip6.arpa``: name errors in reverse zones go upstream.
    fallthrough_reverse: bool = True
    #: ``"namespace/name"`` of the Service naming this server in apex NS answers (kube-dns).
    ns_service: str | None = None
    #: This server's own addresses: glue of the fallback ``ns.dns.<zone>`` NS record.
    local_ips: tuple[str, ...] = ("127.0.0.1",)
    #: CoreDNS ``namespaces``: if set, only these namespaces are exposed (None = all that exist).
    namespaces: tuple[str, ...] | None = None
    #: Upstream query timeout in seconds (per attempt; failover tries the next upstream).
    upstream_timeout: float = 2.0
    _zones: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "zone", _norm_zone(self.zone))
        object.__setattr__(self, "reverse_zones", tuple(_norm_zone(z) for z in self.reverse_zones))
        if self.namespaces is not None:
            object.__setattr__(self, "namespaces", tuple(n.lower() for n in self.namespaces))
        # Longest zone first: the longest configured zone that is a suffix of the name wins
        # (CoreDNS plugin.Zones.Matches).
        zones = sorted({self.zone, *self.reverse_zones}, key=lambda z: (-len(z), z))
        object.__setattr__(self, "_zones", tuple(zones))

    @property
    def zones(self) -> tuple[str, ...]:
        """All served zones, longest first (lowercase, no trailing dot)."""
        return self._zones

    def validate(self) -> list[str]:
        """Problems with this configuration, as human-readable strings (empty = valid)."""
        errs: list[str] = []
        if not self.zone:
            errs.append("zone: must not be empty")
        if not isinstance(self.ttl, int) or not 0 <= self.ttl <= 3600:
            errs.append(f"ttl: must be an integer in 0..3600, got {self.ttl!r}")
        if self.pods not in POD_MODES:
            errs.append(f"pods: must be one of {', '.join(POD_MODES)}, got {self.pods!r}")
        for z in self.reverse_zones:
            if not (z == "in-addr.arpa" or z.endswith(".in-addr.arpa") or z == "ip6.arpa" or z.endswith(".ip6.arpa")):
                errs.append(f"reverse_zones: {z!r} is not under in-addr.arpa or ip6.arpa")
        for ip in self.local_ips:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                errs.append(f"local_ips: {ip!r} is not an IP address")
        if self.ns_service is not None and self.ns_service.count("/") != 1:
            errs.append(f"ns_service: want 'namespace/name', got {self.ns_service!r}")
        for up in self.upstreams or ():
            host, sep, port = up.rpartition(":")
            if not sep or not port.isdigit() or not 0 < int(port) < 65536:
                errs.append(f"upstreams: want 'host:port', got {up!r}")
                continue
            try:
                ipaddress.ip_address(host.strip("[]"))
            except ValueError:
                errs.append(f"upstreams: {host!r} is not an IP address")
        if self.upstream_timeout <= 0:
            errs.append("upstream_timeout: must be > 0")
        return errs
