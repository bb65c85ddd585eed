"""Query-name parsing and the naming helpers (svcnet.dns.names)."""

import dns.name
import pytest

from svcnet.dns.index import EndpointAddress, PortInfo
from svcnet.dns.names import (
    InvalidRequest,
    endpoint_hostname,
    match_zone,
    parse_request,
    pod_label_to_ip,
    reverse_to_ip,
)

ZONE = ("inter", "webs", "tests")


def base(qname: str) -> tuple[str, ...]:
    labels = tuple(x.lower().decode() for x in dns.name.from_text(qname).labels[:-1])
    assert labels[-len(ZONE):] == ZONE
    return labels[: len(labels) - len(ZONE)]


# plugin/kubernetes/parse_test.go TestParseRequest (non-multicluster, non-zonal rows; the
# "..webs" row has empty labels, which are not valid names on the wire)
PARSE_CASES = [
    pytest.param("_http._tcp.webs.mynamespace.svc.inter.webs.tests.", "http.tcp...webs.mynamespace.svc", id="valid SRV request"),
    pytest.param("1-2-3-4.webs.mynamespace.svc.inter.webs.tests.", "..1-2-3-4..webs.mynamespace.svc", id="A request of endpoint"),
    pytest.param("inter.webs.tests.", "......", id="bare zone"),
    pytest.param("svc.inter.webs.tests.", "......", id="bare svc type"),
    pytest.param("pod.inter.webs.tests.", "......", id="bare pod type"),
    pytest.param("us-west-2a._zone.webs.mynamespace.svc.inter.webs.tests.", "us-west-2a.zone...webs.mynamespace.svc",
                 id="same name without the zonal option reads as port/protocol"),
    # ours
    pytest.param("webs.mynamespace.svc.inter.webs.tests.", "....webs.mynamespace.svc", id="service"),
    pytest.param("mynamespace.svc.inter.webs.tests.", ".....mynamespace.svc", id="namespace"),
    pytest.param("10-0-0-1.mynamespace.pod.inter.webs.tests.", "....10-0-0-1.mynamespace.pod", id="pod"),
    pytest.param("_HTTP._TCP.Webs.MyNamespace.SVC.inter.webs.tests.", "http.tcp...webs.mynamespace.svc", id="case-folded"),
    pytest.param("http.tcp.webs.mynamespace.svc.inter.webs.tests.", "http.tcp...webs.mynamespace.svc", id="no underscores"),
]


@pytest.mark.parametrize("qname,expected", PARSE_CASES)
def test_parse_request_valid(qname, expected):
    assert str(parse_request(base(qname))) == expected


# plugin/kubernetes/parse_test.go TestParseInvalidRequest, plus our grammar (dns.md §6.2)
@pytest.mark.parametrize("qname", [
    "webs.mynamespace.pood.inter.webs.tests.",  # Request must be for pod or svc subdomain.
    "too.long.for.what.I.am.trying.to.pod.inter.webs.tests.",  # Too long.
    "a.b.c.webs.mynamespace.svc.inter.webs.tests.",
    "dns-version.inter.webs.tests.",
    "foo.inter.webs.tests.",
])
def test_parse_request_invalid(qname):
    with pytest.raises(InvalidRequest):
        parse_request(base(qname))


def test_match_zone_longest_first():
    zones = (("0", "10", "in-addr", "arpa"), ("in-addr", "arpa"), ("cluster", "local"))
    assert match_zone(("1", "0", "0", "10", "in-addr", "arpa"), zones) == 0
    assert match_zone(("1", "0", "0", "11", "in-addr", "arpa"), zones) == 1
    assert match_zone(("a", "cluster", "local"), zones) == 2
    assert match_zone(("cluster", "local"), zones) == 2
    assert match_zone(("local",), zones) == -1
    assert match_zone(("xcluster", "local"), zones) == -1


def _ep(ip, hostname="", pod=""):
    return EndpointAddress(ip=ip, raw_ip=ip, hostname=hostname, ready=True, pod_name=pod, ports=(PortInfo(name="", protocol="", port=-1),))


# plugin/kubernetes/kubernetes_test.go TestEndpointHostname
@pytest.mark.parametrize("ep,pod_names,expected", [
    (_ep("10.11.12.13", "epname", "podname"), False, "epname"),
    (_ep("10.11.12.13", "", "podname"), False, "10-11-12-13"),
    (_ep("10.11.12.13", "", "podname"), True, "podname"),
    (_ep("10.11.12.13", "epname", "podname"), True, "epname"),
    (_ep("10.11.12.13", "", "p" * 64), True, "10-11-12-13"),
    (_ep("2001:db8:3333:4444:5555:6666:7777:8888"), False, "2001-db8-3333-4444-5555-6666-7777-8888"),
    (_ep("2001:db8:3333:4444:5555:6666::"), False, "2001-db8-3333-4444-5555-6666--0"),
    (_ep("5678:abcd::1"), False, "5678-abcd--1"),
])
def test_endpoint_hostname(ep, pod_names, expected):
    assert endpoint_hostname(ep, pod_names) == expected


@pytest.mark.parametrize("label,ip", [
    ("10-240-0-1", "10.240.0.1"),
    ("5678-abcd--1", "5678:abcd::1"),
    ("1-2-3-4-5", None),
    ("blah", None),
    ("10-240-0-01", None),
    ("10-240-0-256", None),
    ("--1", "::1"),
])
def test_pod_label_to_ip(label, ip):
    assert pod_label_to_ip(label) == ip


@pytest.mark.parametrize("name,ip", [
    ("100.1.168.192.in-addr.arpa.", "192.168.1.100"),
    ("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.", "1234:abcd::1"),
    ("0.10.in-addr.arpa.", None),
    ("256.0.0.10.in-addr.arpa.", None),
    ("01.0.0.10.in-addr.arpa.", None),
    ("x.0.0.10.in-addr.arpa.", None),
    ("g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa.", None),
    ("svc1.testns.svc.cluster.local.", None),
])
def test_reverse_to_ip(name, ip):
    labels = tuple(x.lower().decode() for x in dns.name.from_text(name).labels[:-1])
    assert reverse_to_ip(labels) == ip
