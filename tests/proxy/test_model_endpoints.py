"""Tables for svcnet.proxy.model.endpoints.endpoints_by_port: EndpointSlices of one Service
merged into sorted, de-duplicated endpoints per service port, as kube-proxy's EndpointSliceCache
builds them (``pkg/proxy/endpointslicecache.go``)."""

from __future__ import annotations

import copy

import pytest

from svcnet.proxy.model import EndpointInfo, ServicePortName, endpoints_by_port, slice_service

SERVICE_NAME = "kubernetes.io/service-name"


def gen_slice(
    service: str,
    namespace: str,
    slice_num: int,
    num_endpoints: int,
    unready_mod: int,
    terminating_mod: int,
    hosts: list[str],
    port_nums: list[int | None],
    *,
    offset: int | None = None,
) -> dict:
    """Upstream's ``generateEndpointSliceWithOffset`` (``generateEndpointSlice`` when ``offset`` is
    None): endpoint i (1-based) is ``10.0.<offset>.<i>``, unready when ``i % unready_mod == 0``,
    terminating when ``i % terminating_mod == 0``, on node ``hosts[i % len(hosts)]``."""
    offset = slice_num if offset is None else offset
    ports = []
    for i, p in enumerate(port_nums):
        entry: dict = {"name": f"port-{i}", "protocol": "TCP"}
        if p is not None:  # a nil *int32 is simply absent in JSON
            entry["port"] = p
        ports.append(entry)
    endpoints = []
    for i in range(1, num_endpoints + 1):
        ready_cond = i % unready_mod != 0
        terminating = i % terminating_mod == 0
        ep: dict = {
            "addresses": [f"10.0.{offset}.{i}"],
            "conditions": {"ready": ready_cond and not terminating, "serving": ready_cond, "terminating": terminating},
        }
        if hosts:
            ep["nodeName"] = hosts[i % len(hosts)]
        endpoints.append(ep)
    return {
        "metadata": {"name": f"{service}-{slice_num}", "namespace": namespace, "labels": {SERVICE_NAME: service}},
        "addressType": "IPv4",
        "ports": ports,
        "endpoints": endpoints,
    }


def cache_view(slices: list[dict], key: tuple[str, str], hostname: str = "") -> dict[ServicePortName, list[EndpointInfo]]:
    """What upstream's cache holds for ``key``: slices are kept per (Service, slice name), a later
    slice of the same name replacing the earlier one (``updatePending``), then merged."""
    by_name: dict[str, dict] = {}
    for s in slices:
        if slice_service(s) == key:
            by_name[s["metadata"]["name"]] = s
    return endpoints_by_port(list(by_name.values()), family="IPv4", node_name=hostname)


def spn(port: str, ns: str = "ns1", name: str = "svc1", protocol: str = "TCP") -> ServicePortName:
    return ServicePortName(ns, name, port, protocol)


def e(endpoint: str, *, local: bool = False, ready: bool = True, serving: bool = True, terminating: bool = False) -> tuple:
    """What upstream's ``compareEndpointsMapsStr`` compares: endpoint string and four flags."""
    return (endpoint, local, ready, serving, terminating)


def flat(m: dict[ServicePortName, list[EndpointInfo]]) -> dict[ServicePortName, list[tuple]]:
    return {k: [(str(x), x.is_local, x.ready, x.serving, x.terminating) for x in v] for k, v in m.items()}


def run_of(offset: int, count: int, port: int, **flags) -> list[tuple]:  # type: ignore[no-untyped-def]
    return [e(f"10.0.{offset}.{i}:{port}", **flags) for i in range(1, count + 1)]


# Ported from pkg/proxy/endpointslicecache_test.go::TestEndpointsMapFromESC (kubernetes/kubernetes).
# Each case: slices, hostname, expected {ServicePortName: [endpoint, flags...]} in the expected
# order (upstream compares index by index, so the "ip:port" string sort is checked too).
ESC_CASES = [
    pytest.param(
        [gen_slice("svc1", "ns1", 1, 3, 999, 999, ["host1", "host2"], [80, 443])],
        "host1",
        {
            spn("port-0"): [e("10.0.1.1:80"), e("10.0.1.2:80", local=True), e("10.0.1.3:80")],
            spn("port-1"): [e("10.0.1.1:443"), e("10.0.1.2:443", local=True), e("10.0.1.3:443")],
        },
        id="1 slice, 2 hosts, ports 80,443",
    ),
    pytest.param(
        [gen_slice("svc1", "ns1", 1, 3, 999, 999, [], [80]), gen_slice("svc1", "ns1", 2, 3, 999, 999, [], [80])],
        "",
        {spn("port-0"): run_of(1, 3, 80) + run_of(2, 3, 80)},
        id="2 slices, same port",
    ),
    pytest.param(
        # both slices are named svc1-1: the second replaces the first
        [gen_slice("svc1", "ns1", 1, 3, 999, 999, [], [80]), gen_slice("svc1", "ns1", 1, 4, 999, 999, [], [80])],
        "",
        {spn("port-0"): run_of(1, 4, 80)},
        id="2 overlapping slices, same port",
    ),
    pytest.param(
        [gen_slice("svc1", "ns1", 1, 10, 3, 999, [], [80]), gen_slice("svc1", "ns1", 1, 10, 6, 999, [], [80])],
        "",
        {
            spn("port-0"): [
                e("10.0.1.10:80"),
                e("10.0.1.1:80"),
                e("10.0.1.2:80"),
                e("10.0.1.3:80"),
                e("10.0.1.4:80"),
                e("10.0.1.5:80"),
                e("10.0.1.6:80", ready=False, serving=False),
                e("10.0.1.7:80"),
                e("10.0.1.8:80"),
                e("10.0.1.9:80"),
            ]
        },
        id="2 slices, overlapping endpoints, some endpoints unready in 1 or both",
    ),
    pytest.param(
        [gen_slice("svc1", "ns1", 1, 10, 3, 5, [], [80]), gen_slice("svc1", "ns1", 1, 10, 6, 5, [], [80])],
        "",
        {
            spn("port-0"): [
                e("10.0.1.10:80", ready=False, serving=True, terminating=True),
                e("10.0.1.1:80"),
                e("10.0.1.2:80"),
                e("10.0.1.3:80"),
                e("10.0.1.4:80"),
                e("10.0.1.5:80", ready=False, serving=True, terminating=True),
                e("10.0.1.6:80", ready=False, serving=False),
                e("10.0.1.7:80"),
                e("10.0.1.8:80"),
                e("10.0.1.9:80"),
            ]
        },
        id="2 slices, overlapping endpoints, some endpoints unready and some endpoints terminating",
    ),
    pytest.param(
        [gen_slice("svc1", "ns1", 1, 10, 1, 999, [], [80]), gen_slice("svc1", "ns1", 1, 10, 1, 999, [], [80])],
        "",
        {
            spn("port-0"): [e(f"10.0.1.{i}:80", ready=False, serving=False) for i in (10, 1, 2, 3, 4, 5, 6, 7, 8, 9)],
        },
        id="2 slices, overlapping endpoints, all unready",
    ),
    pytest.param(
        [
            gen_slice("svc1", "ns1", 1, 3, 999, 999, [], [80]),
            gen_slice("svc2", "ns1", 2, 3, 999, 999, [], [80]),
            gen_slice("svc1", "ns2", 3, 3, 999, 999, [], [80]),
        ],
        "",
        {spn("port-0"): run_of(1, 3, 80)},
        id="3 slices with different services and namespaces",
    ),
    pytest.param(
        [gen_slice("svc1", "ns1", 1, 3, 999, 999, ["host1", "host2"], [None])],
        "host1",
        {},
        id="Nil port should not break anything",
    ),
    pytest.param(
        [
            gen_slice("svc1", "ns1", 1, 2, 999, 999, ["host1", "host2"], [80], offset=1),
            gen_slice("svc1", "ns1", 2, 2, 999, 999, ["host1", "host2"], [8080], offset=1),
        ],
        "host1",
        {
            # both slices name their only port "port-0", so both land in one list
            spn("port-0"): [
                e("10.0.1.1:80"),
                e("10.0.1.1:8080"),
                e("10.0.1.2:80", local=True),
                e("10.0.1.2:8080", local=True),
            ]
        },
        id="Different endpoints with duplicate IPs should not be filtered",
    ),
]


@pytest.mark.parametrize("slices, hostname, expected", ESC_CASES)
def test_endpoints_by_port_upstream_esc(slices, hostname, expected):  # type: ignore[no-untyped-def]
    assert flat(cache_view(slices, ("ns1", "svc1"), hostname)) == expected


# Ported from pkg/proxy/endpointslicecache_test.go::TestEndpointInfoByServicePort: the same merge,
# expected as {ServicePortName: {"ip:port": flags}} (order-blind).
BY_PORT_CASES = [
    pytest.param(
        [gen_slice("svc1", "ns1", 1, 3, 999, 999, ["host1", "host2"], [80])],
        "host1",
        {spn("port-0"): {e("10.0.1.1:80"), e("10.0.1.2:80", local=True), e("10.0.1.3:80")}},
        id="simple use case with 3 endpoints",
    ),
    pytest.param(
        [
            gen_slice("svc1", "ns1", 1, 2, 999, 999, ["host1", "host2"], [80], offset=1),
            gen_slice("svc1", "ns1", 2, 2, 999, 999, ["host1", "host2"], [8080], offset=1),
        ],
        "host1",
        {
            spn("port-0"): {
                e("10.0.1.1:80"),
                e("10.0.1.2:80", local=True),
                e("10.0.1.1:8080"),
                e("10.0.1.2:8080", local=True),
            }
        },
        id="4 different slices with duplicate IPs",
    ),
]


@pytest.mark.parametrize("slices, hostname, expected", BY_PORT_CASES)
def test_endpoints_by_port_upstream_by_service_port(slices, hostname, expected):  # type: ignore[no-untyped-def]
    got = flat(cache_view(slices, ("ns1", "svc1"), hostname))
    assert {k: set(v) for k, v in got.items()} == expected


# --- svcnet's own table ---------------------------------------------------------------------


def slice_(*endpoints: dict, ports=None, name: str = "s1", address_type: str = "IPv4", labels=None) -> dict:  # type: ignore[no-untyped-def]
    return {
        "metadata": {"namespace": "ns1", "name": name, "labels": {SERVICE_NAME: "svc1"} if labels is None else labels},
        "addressType": address_type,
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}] if ports is None else ports,
        "endpoints": list(endpoints),
    }


def addr(ip: str, **fields) -> dict:  # type: ignore[no-untyped-def]
    return {"addresses": [ip], **fields}


TERM = {"ready": False, "serving": True, "terminating": True}
LIVE = {"ready": True, "serving": True, "terminating": False}
HTTP = spn("http")

# (slices, family, node name, expected {ServicePortName: [(endpoint, local, ready, serving, terminating)]})
OWN_CASES = [
    # duplicates across slices: the non-terminating copy wins, whichever comes first
    pytest.param(
        [slice_(addr("10.0.0.1", conditions=TERM)), slice_(addr("10.0.0.1", conditions=LIVE), name="s2")],
        "IPv4", "", {HTTP: [e("10.0.0.1:80")]},
        id="duplicate ip:port, terminating first, live copy wins",
    ),
    pytest.param(
        [slice_(addr("10.0.0.1", conditions=LIVE)), slice_(addr("10.0.0.1", conditions=TERM), name="s2")],
        "IPv4", "", {HTTP: [e("10.0.0.1:80")]},
        id="duplicate ip:port, terminating second, live copy kept",
    ),
    pytest.param(
        [slice_(addr("10.0.0.1", conditions=TERM, nodeName="n1")), slice_(addr("10.0.0.1", conditions=TERM, nodeName="n2"), name="s2")],
        "IPv4", "n2", {HTTP: [e("10.0.0.1:80", ready=False, terminating=True)]},
        id="duplicate ip:port, both terminating, first kept",
    ),
    # order is by the "ip:port" string, not numeric
    pytest.param(
        [slice_(addr("10.0.0.2"), addr("10.0.0.10"), addr("10.0.0.1"), addr("9.0.0.1"))],
        "IPv4", "", {HTTP: [e("10.0.0.10:80"), e("10.0.0.1:80"), e("10.0.0.2:80"), e("9.0.0.1:80")]},
        id="sorted by ip:port string, 10.0.0.10 before 10.0.0.2",
    ),
    pytest.param(
        [slice_(addr("10.0.0.1"), ports=[{"name": "a", "port": 8080}, {"name": "b", "port": 80}])],
        "IPv4", "", {spn("a"): [e("10.0.0.1:8080")], spn("b"): [e("10.0.0.1:80")]},
        id="each port has its own list",
    ),
    # ports upstream ignores
    pytest.param([slice_(addr("10.0.0.1"), ports=[{"port": 80}])], "IPv4", "", {}, id="port without a name key skipped"),
    pytest.param([slice_(addr("10.0.0.1"), ports=[{"name": None, "port": 80}])], "IPv4", "", {}, id="port with null name skipped"),
    pytest.param([slice_(addr("10.0.0.1"), ports=[{"name": "http"}])], "IPv4", "", {}, id="port without a number skipped"),
    pytest.param([slice_(addr("10.0.0.1"), ports=[{"name": "http", "port": None}])], "IPv4", "", {}, id="port with null number skipped"),
    pytest.param([slice_(addr("10.0.0.1"), ports=[{"name": "http", "port": 0}])], "IPv4", "", {}, id="port 0 skipped"),
    pytest.param(
        [slice_(addr("10.0.0.1"), ports=[{"name": "", "port": 53, "protocol": "UDP"}])],
        "IPv4", "", {spn("", protocol="UDP"): [e("10.0.0.1:53")]},
        id="empty port name is a valid unnamed port",
    ),
    pytest.param(
        [slice_(addr("10.0.0.1"), ports=[{"name": "http", "port": 80}])],
        "IPv4", "", {HTTP: [e("10.0.0.1:80")]},
        id="protocol defaults to TCP",
    ),
    # slices upstream ignores
    pytest.param([slice_(addr("fd00::1"), address_type="IPv6")], "IPv4", "", {}, id="IPv6 slice ignored by an IPv4 proxier"),
    pytest.param([slice_(addr("10.0.0.1"))], "IPv6", "", {}, id="IPv4 slice ignored by an IPv6 proxier"),
    pytest.param([slice_(addr("db.example.com"), address_type="FQDN")], "IPv4", "", {}, id="FQDN slice ignored"),
    pytest.param([slice_(addr("10.0.0.1"), labels={})], "IPv4", "", {}, id="slice without service-name label ignored"),
    pytest.param([slice_(addr("10.0.0.1"), labels={SERVICE_NAME: ""})], "IPv4", "", {}, id="slice with empty service-name label ignored"),
    pytest.param(
        [slice_(addr("fd00::1"), addr("fd00::10"), address_type="IPv6")],
        "IPv6", "", {HTTP: [e("[fd00::10]:80"), e("[fd00::1]:80")]},
        id="IPv6 endpoints bracketed and sorted as strings",
    ),
    # endpoints
    pytest.param([slice_({"addresses": []}, addr("10.0.0.2"))], "IPv4", "", {HTTP: [e("10.0.0.2:80")]}, id="endpoint without addresses skipped"),
    pytest.param([slice_({"addresses": ["10.0.0.1", "10.0.0.9"]})], "IPv4", "", {HTTP: [e("10.0.0.1:80")]}, id="only addresses[0] used"),
    pytest.param([slice_(addr("10.0.0.1"))], "IPv4", "", {HTTP: [e("10.0.0.1:80")]}, id="no conditions: ready and serving, not terminating"),
    pytest.param(
        [slice_(addr("10.0.0.1", conditions={"ready": None, "serving": None, "terminating": None}))],
        "IPv4", "", {HTTP: [e("10.0.0.1:80")]},
        id="null conditions count as ready and serving",
    ),
    pytest.param(
        [slice_(addr("10.0.0.1", conditions={"ready": False}))],
        "IPv4", "", {HTTP: [e("10.0.0.1:80", ready=False, serving=True)]},
        id="serving absent counts as true even when not ready",
    ),
    pytest.param(
        [slice_(addr("10.0.0.1", nodeName="node1"), addr("10.0.0.2", nodeName="node2"), addr("10.0.0.3"))],
        "IPv4", "node1", {HTTP: [e("10.0.0.1:80", local=True), e("10.0.0.2:80"), e("10.0.0.3:80")]},
        id="is_local when nodeName is this node",
    ),
    pytest.param(
        [slice_(addr("10.0.0.1", nodeName=""), addr("10.0.0.2"))],
        "IPv4", "", {HTTP: [e("10.0.0.1:80"), e("10.0.0.2:80")]},
        id="a proxy without a node name has no local endpoints",
    ),
]


@pytest.mark.parametrize("slices, family, node_name, expected", OWN_CASES)
def test_endpoints_by_port(slices, family, node_name, expected):  # type: ignore[no-untyped-def]
    assert flat(endpoints_by_port(slices, family=family, node_name=node_name)) == expected


@pytest.mark.parametrize(
    "hints, expected",
    [
        pytest.param(None, None, id="no hints field"),
        pytest.param({}, None, id="hints without forZones"),
        pytest.param({"forZones": []}, None, id="empty forZones is no hint (upstream len > 0 check)"),
        pytest.param({"forZones": [{"name": "zone-a"}, {"name": "zone-b"}]}, frozenset({"zone-a", "zone-b"}), id="zones collected"),
    ],
)
def test_endpoints_by_port_zone_hints(hints, expected):  # type: ignore[no-untyped-def]
    ep: dict = addr("10.0.0.1")
    if hints is not None:
        ep["hints"] = hints
    (got,) = endpoints_by_port([slice_(ep)])[HTTP]
    assert got.zone_hints == expected


def test_endpoints_by_port_keeps_node_zone_and_target():
    ep = addr("10.0.0.1", nodeName="node1", zone="zone-a", targetRef={"kind": "Pod", "name": "web-0"})
    (got,) = endpoints_by_port([slice_(ep)])[HTTP]
    assert (got.node_name, got.zone, got.target) == ("node1", "zone-a", "web-0")


def test_endpoints_by_port_does_not_mutate_slices():
    """Upstream's cacheMutationCheck: cached objects are never changed."""
    slices = [gen_slice("svc1", "ns1", 1, 3, 2, 3, ["host1"], [80, 443])]
    before = copy.deepcopy(slices)
    endpoints_by_port(slices, node_name="host1")
    assert slices == before


@pytest.mark.parametrize(
    "slice_obj, expected",
    [
        pytest.param({"metadata": {"namespace": "ns1", "labels": {SERVICE_NAME: "svc1"}}}, ("ns1", "svc1"), id="labelled"),
        pytest.param({"metadata": {"namespace": "ns1", "labels": {}}}, None, id="no label"),
        pytest.param({"metadata": {"namespace": "ns1"}}, None, id="no labels at all"),
        pytest.param({}, None, id="no metadata"),
    ],
)
def test_slice_service(slice_obj, expected):  # type: ignore[no-untyped-def]
    assert slice_service(slice_obj) == expected
