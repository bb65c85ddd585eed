"""Tables for svcnet.proxy.model.serviceport: a Service object turned into the per-port
``ServicePortInfo`` one single-family proxier needs, and the port predicates."""

from __future__ import annotations

import pytest

from svcnet.proxy.model import (
    SCHEDULER_ANNOTATION,
    SCHEDULER_FLAGS_ANNOTATION,
    ServicePortInfo,
    ServicePortName,
    service_port_infos,
    should_skip_service,
)

CLUSTER_V4 = "10.0.0.1"
EXTERNAL_V4 = "8.8.8.8"
SOURCE_RANGE_V4 = "0.0.0.0/1"
CLUSTER_V6 = "2001:db8:85a3:0:0:8a2e:370:7334"
EXTERNAL_V6 = "2001:db8:85a3:0:0:8a2e:370:7335"
SOURCE_RANGE_V6 = "2001:db8::/32"


def service(ns: str, name: str, *, ports=(), status=None, annotations=None, **spec) -> dict:  # type: ignore[no-untyped-def]
    """A Service as ``kubectl get -o json`` shows it (``makeTestService`` upstream)."""
    obj: dict = {
        "metadata": {"namespace": ns, "name": name, "annotations": dict(annotations or {})},
        "spec": {**spec, "ports": list(ports)},
    }
    if status is not None:
        obj["status"] = status
    return obj


def port(name: str, protocol: str, port_: int, node_port: int = 0, target_port: int = 0) -> dict:
    """``addTestPort(array, name, protocol, port, nodeport, targetPort)``."""
    return {"name": name, "protocol": protocol, "port": port_, "nodePort": node_port, "targetPort": target_port}


def lb(*ingress: dict) -> dict:
    return {"loadBalancer": {"ingress": list(ingress)}}


def expect(cluster_ip: str, port_: int, protocol: str, hc: int = 0, *, external_ips=(), source_ranges=(), lb_vips=()) -> dict:  # type: ignore[no-untyped-def]
    """The fields upstream's TestServiceToServiceMap compares (``makeTestServiceInfo``)."""
    return {
        "cluster_ip": cluster_ip,
        "port": port_,
        "protocol": protocol,
        "health_check_node_port": hc,
        "external_ips": tuple(external_ips),
        "load_balancer_source_ranges": tuple(source_ranges),
        "load_balancer_vips": tuple(lb_vips),
    }


def compared(info: ServicePortInfo) -> dict:
    return {k: getattr(info, k) for k in expect("", 0, "")}


def spn(ns: str, name: str, port_: str, protocol: str) -> ServicePortName:
    return ServicePortName(ns, name, port_, protocol)


GATE_ALWAYS_ON = pytest.mark.skip(
    reason="LoadBalancerIPMode is GA and locked on; svcnet always honours ipMode, so the "
    "gate-disabled expectation (Proxy ingress still programmed as a VIP) does not exist"
)
# svcnet reads status.loadBalancer.ingress only for type LoadBalancer; upstream newBaseServiceInfo
# reads it whatever the type. These upstream cases leave spec.type unset but list ingress IPs, so
# the port sets type LoadBalancer to keep checking what the cases are about (family filtering).
# The divergence itself is test_service_port_infos_lb_ingress_read_whatever_the_type below.
LB_TYPE_ADDED = "LoadBalancer"

# Ported from pkg/proxy/servicechangetracker_test.go::TestServiceToServiceMap (kubernetes/kubernetes
# @f2963ef; in older trees it lives in pkg/proxy/service_test.go). Each case: family of the
# proxier, the Service, and {ServicePortName: compared fields}. Upstream compares only clusterIP,
# port, protocol, healthCheckNodePort, externalIPs, source ranges and LB VIPs, so do we.
CASES = [
    pytest.param(
        "IPv4",
        {},  # upstream passes a nil *v1.Service; our conversion takes a dict, so: an empty object
        {},
        id="nothing",
    ),
    pytest.param(
        "IPv4",
        service("ns2", "headless", type="ClusterIP", clusterIP="None", ports=[port("rpc", "UDP", 1234)]),
        {},
        id="headless service",
    ),
    pytest.param(
        "IPv4",
        service("ns2", "headless", type="ClusterIP", clusterIP="None", ports=[port("sip", "SCTP", 7777)]),
        {},
        id="headless sctp service",
    ),
    pytest.param(
        "IPv4",
        service("ns2", "headless-without-port", type="ClusterIP", clusterIP="None"),
        {},
        id="headless service without port",
    ),
    pytest.param(
        "IPv4",
        service("ns2", "cluster-ip", type="ClusterIP", clusterIP="172.16.55.4", ports=[port("p1", "UDP", 1234, 4321), port("p2", "UDP", 1235, 5321)]),
        {
            spn("ns2", "cluster-ip", "p1", "UDP"): expect("172.16.55.4", 1234, "UDP"),
            spn("ns2", "cluster-ip", "p2", "UDP"): expect("172.16.55.4", 1235, "UDP"),
        },
        id="cluster ip service",
    ),
    pytest.param(
        "IPv4",
        service("ns2", "node-port", type="NodePort", clusterIP="172.16.55.10", ports=[port("port1", "UDP", 345, 678), port("port2", "TCP", 344, 677)]),
        {
            spn("ns2", "node-port", "port1", "UDP"): expect("172.16.55.10", 345, "UDP"),
            spn("ns2", "node-port", "port2", "TCP"): expect("172.16.55.10", 344, "TCP"),
        },
        id="nodeport service",
    ),
    pytest.param(
        "IPv4",
        service(
            "ns1", "load-balancer", type="LoadBalancer", clusterIP="172.16.55.11", loadBalancerIP="5.6.7.8",
            ports=[port("port3", "UDP", 8675, 30061, 7000), port("port4", "UDP", 8676, 30062, 7001)],
            status=lb({"ip": "10.1.2.4"}),
        ),
        {
            spn("ns1", "load-balancer", "port3", "UDP"): expect("172.16.55.11", 8675, "UDP", lb_vips=["10.1.2.4"]),
            spn("ns1", "load-balancer", "port4", "UDP"): expect("172.16.55.11", 8676, "UDP", lb_vips=["10.1.2.4"]),
        },
        id="load balancer service",
    ),
    pytest.param(
        "IPv4",
        service(
            "ns1", "load-balancer", type="LoadBalancer", clusterIP="172.16.55.11", loadBalancerIP="5.6.7.8",
            ports=[port("port3", "UDP", 8675, 30061, 7000), port("port4", "UDP", 8676, 30062, 7001)],
            status=lb({"ip": "10.1.2.4", "ipMode": "VIP"}),
        ),
        {
            spn("ns1", "load-balancer", "port3", "UDP"): expect("172.16.55.11", 8675, "UDP", lb_vips=["10.1.2.4"]),
            spn("ns1", "load-balancer", "port4", "UDP"): expect("172.16.55.11", 8676, "UDP", lb_vips=["10.1.2.4"]),
        },
        id="load balancer service ipMode VIP feature gate disable",
    ),
    pytest.param(
        "IPv4",
        service(
            "ns1", "load-balancer", type="LoadBalancer", clusterIP="172.16.55.11", loadBalancerIP="5.6.7.8",
            ports=[port("port3", "UDP", 8675, 30061, 7000), port("port4", "UDP", 8676, 30062, 7001)],
            status=lb({"ip": "10.1.2.4", "ipMode": "Proxy"}),
        ),
        {
            spn("ns1", "load-balancer", "port3", "UDP"): expect("172.16.55.11", 8675, "UDP", lb_vips=["10.1.2.4"]),
            spn("ns1", "load-balancer", "port4", "UDP"): expect("172.16.55.11", 8676, "UDP", lb_vips=["10.1.2.4"]),
        },
        id="load balancer service ipMode Proxy feature gate disable",
        marks=GATE_ALWAYS_ON,
    ),
    pytest.param(
        "IPv4",
        service(
            "ns1", "load-balancer", type="LoadBalancer", clusterIP="172.16.55.11", loadBalancerIP="5.6.7.8",
            ports=[port("port3", "UDP", 8675, 30061, 7000), port("port4", "UDP", 8676, 30062, 7001)],
            status=lb({"ip": "10.1.2.4", "ipMode": "VIP"}),
        ),
        {
            spn("ns1", "load-balancer", "port3", "UDP"): expect("172.16.55.11", 8675, "UDP", lb_vips=["10.1.2.4"]),
            spn("ns1", "load-balancer", "port4", "UDP"): expect("172.16.55.11", 8676, "UDP", lb_vips=["10.1.2.4"]),
        },
        id="load balancer service ipMode VIP feature gate enabled",
    ),
    pytest.param(
        "IPv4",
        service(
            "ns1", "load-balancer", type="LoadBalancer", clusterIP="172.16.55.11", loadBalancerIP="5.6.7.8",
            ports=[port("port3", "UDP", 8675, 30061, 7000), port("port4", "UDP", 8676, 30062, 7001)],
            status=lb({"ip": "10.1.2.4", "ipMode": "Proxy"}),
        ),
        {
            spn("ns1", "load-balancer", "port3", "UDP"): expect("172.16.55.11", 8675, "UDP"),
            spn("ns1", "load-balancer", "port4", "UDP"): expect("172.16.55.11", 8676, "UDP"),
        },
        id="load balancer service ipMode Proxy feature gate enabled",
    ),
    pytest.param(
        "IPv4",
        service(
            "ns1", "only-local-load-balancer", type="LoadBalancer", clusterIP="172.16.55.12", loadBalancerIP="5.6.7.8",
            ports=[port("portx", "UDP", 8677, 30063, 7002), port("porty", "UDP", 8678, 30064, 7003)],
            externalTrafficPolicy="Local", healthCheckNodePort=345,
            status=lb({"ip": "10.1.2.3"}),
        ),
        {
            spn("ns1", "only-local-load-balancer", "portx", "UDP"): expect("172.16.55.12", 8677, "UDP", 345, lb_vips=["10.1.2.3"]),
            spn("ns1", "only-local-load-balancer", "porty", "UDP"): expect("172.16.55.12", 8678, "UDP", 345, lb_vips=["10.1.2.3"]),
        },
        id="load balancer service with only local traffic policy",
    ),
    pytest.param(
        "IPv4",
        service("ns2", "external-name", type="ExternalName", clusterIP="172.16.55.4", externalName="foo2.bar.com", ports=[port("portz", "UDP", 1235, 5321)]),
        {},
        id="external name service",
    ),
    pytest.param(
        "IPv4",
        service("test", "invalidIPv6InIPV4Mode", clusterIP=CLUSTER_V6, ports=[port("testPort", "TCP", 12345)], status=lb({"ip": EXTERNAL_V4}, {"ip": EXTERNAL_V6})),
        {},
        id="service with ipv6 clusterIP under ipv4 mode, service should be filtered",
    ),
    pytest.param(
        "IPv6",
        service("test", "invalidIPv4InIPV6Mode", clusterIP=CLUSTER_V4, ports=[port("testPort", "TCP", 12345)], status=lb({"ip": EXTERNAL_V4}, {"ip": EXTERNAL_V6})),
        {},
        id="service with ipv4 clusterIP under ipv6 mode, service should be filtered",
    ),
    pytest.param(
        "IPv4",
        service(
            "test", "validIPv4", type=LB_TYPE_ADDED, clusterIP=CLUSTER_V4, externalIPs=[EXTERNAL_V4], loadBalancerSourceRanges=[SOURCE_RANGE_V4],
            ports=[port("testPort", "TCP", 12345)], status=lb({"ip": EXTERNAL_V4}, {"ip": EXTERNAL_V6}),
        ),
        {spn("test", "validIPv4", "testPort", "TCP"): expect(CLUSTER_V4, 12345, "TCP", external_ips=[EXTERNAL_V4], source_ranges=[SOURCE_RANGE_V4], lb_vips=[EXTERNAL_V4])},
        id="service with ipv4 configurations under ipv4 mode",
    ),
    pytest.param(
        "IPv6",
        service(
            "test", "validIPv6", type=LB_TYPE_ADDED, clusterIP=CLUSTER_V6, externalIPs=[EXTERNAL_V6], loadBalancerSourceRanges=[SOURCE_RANGE_V6],
            ports=[port("testPort", "TCP", 12345)], status=lb({"ip": EXTERNAL_V4}, {"ip": EXTERNAL_V6}),
        ),
        {spn("test", "validIPv6", "testPort", "TCP"): expect(CLUSTER_V6, 12345, "TCP", external_ips=[EXTERNAL_V6], source_ranges=[SOURCE_RANGE_V6], lb_vips=[EXTERNAL_V6])},
        id="service with ipv6 configurations under ipv6 mode",
    ),
    pytest.param(
        "IPv4",
        service(
            "test", "filterIPv6InIPV4Mode", type=LB_TYPE_ADDED, clusterIP=CLUSTER_V4,
            externalIPs=[EXTERNAL_V4, EXTERNAL_V6], loadBalancerSourceRanges=[SOURCE_RANGE_V4, SOURCE_RANGE_V6],
            ports=[port("testPort", "TCP", 12345)], status=lb({"ip": EXTERNAL_V4}, {"ip": EXTERNAL_V6}),
        ),
        {spn("test", "filterIPv6InIPV4Mode", "testPort", "TCP"): expect(CLUSTER_V4, 12345, "TCP", external_ips=[EXTERNAL_V4], source_ranges=[SOURCE_RANGE_V4], lb_vips=[EXTERNAL_V4])},
        id="service with both ipv4 and ipv6 configurations under ipv4 mode, ipv6 fields should be filtered",
    ),
    pytest.param(
        "IPv6",
        service(
            "test", "filterIPv4InIPV6Mode", type=LB_TYPE_ADDED, clusterIP=CLUSTER_V6,
            externalIPs=[EXTERNAL_V4, EXTERNAL_V6], loadBalancerSourceRanges=[SOURCE_RANGE_V4, SOURCE_RANGE_V6],
            ports=[port("testPort", "TCP", 12345)], status=lb({"ip": EXTERNAL_V4}, {"ip": EXTERNAL_V6}),
        ),
        {spn("test", "filterIPv4InIPV6Mode", "testPort", "TCP"): expect(CLUSTER_V6, 12345, "TCP", external_ips=[EXTERNAL_V6], source_ranges=[SOURCE_RANGE_V6], lb_vips=[EXTERNAL_V6])},
        id="service with both ipv4 and ipv6 configurations under ipv6 mode, ipv4 fields should be filtered",
    ),
    pytest.param(
        "IPv4",
        service("test", "extra-space", clusterIP=CLUSTER_V4, loadBalancerSourceRanges=[" 10.1.2.0/28"], ports=[port("testPort", "TCP", 12345)]),
        {spn("test", "extra-space", "testPort", "TCP"): expect(CLUSTER_V4, 12345, "TCP", source_ranges=["10.1.2.0/28"])},
        id="service with extra space in LoadBalancerSourceRanges",
    ),
]


@pytest.mark.parametrize("family, svc, expected", CASES)
def test_service_port_infos_upstream(family, svc, expected):  # type: ignore[no-untyped-def]
    got = service_port_infos(svc, family)
    assert {k: compared(v) for k, v in got.items()} == expected
    for key, info in got.items():
        assert info.name == key


def test_service_port_infos_lb_ingress_read_whatever_the_type():
    """Upstream's "service with ipv4 configurations under ipv4 mode" exactly as written: no
    spec.type, yet the ingress IP is expected as a VIP."""
    svc = service("test", "validIPv4", clusterIP=CLUSTER_V4, ports=[port("testPort", "TCP", 12345)], status=lb({"ip": EXTERNAL_V4}))
    (info,) = service_port_infos(svc, "IPv4").values()
    assert info.load_balancer_vips == (EXTERNAL_V4,)


# Ported from pkg/proxy/util/utils_test.go::TestShouldSkipService (upstream's cases are unnamed;
# the ids are their comments).
SKIP_CASES = [
    pytest.param({"clusterIP": "None"}, True, id="Cluster IP is None"),
    pytest.param({"clusterIP": ""}, True, id="Cluster IP is empty"),
    pytest.param({"clusterIP": "1.2.3.4", "type": "ExternalName"}, True, id="ExternalName type service"),
    pytest.param({"clusterIP": "1.2.3.4", "type": "ClusterIP"}, False, id="ClusterIP type service with ClusterIP set"),
    pytest.param({"clusterIP": "1.2.3.4", "type": "NodePort"}, False, id="NodePort type service with ClusterIP set"),
    pytest.param({"clusterIP": "1.2.3.4", "type": "LoadBalancer"}, False, id="LoadBalancer type service with ClusterIP set"),
    # svcnet's own
    pytest.param({}, True, id="no clusterIP key at all"),
]


@pytest.mark.parametrize("spec, skip", SKIP_CASES)
def test_should_skip_service(spec, skip):  # type: ignore[no-untyped-def]
    svc = {"metadata": {"namespace": "foo", "name": "bar"}, "spec": spec}
    assert should_skip_service(svc) is skip
    if skip:
        assert service_port_infos({**svc, "spec": {**spec, "ports": [port("p", "TCP", 80)]}}) == {}


# --- svcnet's own table: one Service, one port, one field checked -------------------------

BASE = {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [port("p80", "TCP", 80, 0, 8080)]}
LB_BASE = {**BASE, "type": "LoadBalancer", "ports": [port("p80", "TCP", 80, 30080, 8080)]}

# (family, spec overrides, status, annotations, field, expected)
FIELD_CASES = [
    # families
    pytest.param("IPv4", {"clusterIPs": ["10.96.0.10", "fd00::10"]}, None, {}, "cluster_ip", "10.96.0.10", id="dual-stack, IPv4 proxier takes the IPv4 ClusterIP"),
    pytest.param("IPv6", {"clusterIPs": ["10.96.0.10", "fd00::10"]}, None, {}, "cluster_ip", "fd00::10", id="dual-stack, IPv6 proxier takes the IPv6 ClusterIP"),
    pytest.param("IPv4", {"clusterIPs": ["fd00::10", "10.96.0.10"]}, None, {}, "cluster_ip", "10.96.0.10", id="dual-stack IPv6-primary, IPv4 proxier still takes the IPv4 one"),
    pytest.param("IPv4", {"externalIPs": ["192.0.2.1", "2001:db8::1", "192.0.2.2"]}, None, {}, "external_ips", ("192.0.2.1", "192.0.2.2"), id="externalIPs of the other family dropped, order kept"),
    pytest.param("IPv6", {"externalIPs": ["192.0.2.1", "2001:db8::1"], "clusterIPs": ["fd00::10"], "clusterIP": "fd00::10"}, None, {}, "external_ips", ("2001:db8::1",), id="externalIPs for an IPv6 proxier"),
    pytest.param("IPv4", {"loadBalancerSourceRanges": ["192.0.2.0/24", "2001:db8::/64"]}, None, {}, "load_balancer_source_ranges", ("192.0.2.0/24",), id="source ranges of the other family dropped"),
    # load balancer ingress
    pytest.param("IPv4", {"type": "LoadBalancer"}, lb({"ip": "192.0.2.9"}), {}, "load_balancer_vips", ("192.0.2.9",), id="ingress without ipMode is a VIP"),
    pytest.param("IPv4", {"type": "LoadBalancer"}, lb({"ip": "192.0.2.9", "ipMode": "Proxy"}), {}, "load_balancer_vips", (), id="ipMode Proxy is not a VIP"),
    pytest.param("IPv4", {"type": "LoadBalancer"}, lb({"ip": "192.0.2.9", "ipMode": "Proxy"}, {"ip": "192.0.2.10", "ipMode": "VIP"}), {}, "load_balancer_vips", ("192.0.2.10",), id="mixed ipModes keep only the VIP one"),
    pytest.param("IPv4", {"type": "LoadBalancer"}, lb({"hostname": "lb.example.com"}), {}, "load_balancer_vips", (), id="hostname-only ingress is no VIP"),
    pytest.param("IPv4", {"type": "LoadBalancer"}, lb({"ip": "2001:db8::9"}, {"ip": "192.0.2.9"}), {}, "load_balancer_vips", ("192.0.2.9",), id="ingress of the other family dropped"),
    # health check node port: LoadBalancer + externalTrafficPolicy Local only
    pytest.param("IPv4", {**LB_BASE, "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000}, None, {}, "health_check_node_port", 32000, id="LB with ETP Local keeps healthCheckNodePort"),
    pytest.param("IPv4", {**LB_BASE, "externalTrafficPolicy": "Cluster", "healthCheckNodePort": 32000}, None, {}, "health_check_node_port", 0, id="LB with ETP Cluster has none"),
    pytest.param("IPv4", {"type": "NodePort", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000}, None, {}, "health_check_node_port", 0, id="NodePort with ETP Local has none"),
    pytest.param("IPv4", {**LB_BASE, "externalTrafficPolicy": "Local"}, None, {}, "health_check_node_port", 0, id="LB with ETP Local but no port allocated"),
    # traffic policies (apiservice.ExternalPolicyLocal / InternalPolicyLocal)
    pytest.param("IPv4", {"type": "NodePort", "externalTrafficPolicy": "Local"}, None, {}, "external_policy_local", True, id="NodePort ETP Local"),
    pytest.param("IPv4", {"type": "ClusterIP", "externalTrafficPolicy": "Local"}, None, {}, "external_policy_local", False, id="ETP Local on a ClusterIP without externalIPs is ignored"),
    pytest.param("IPv4", {"type": "ClusterIP", "externalTrafficPolicy": "Local", "externalIPs": ["192.0.2.1"]}, None, {}, "external_policy_local", True, id="ETP Local on a ClusterIP with externalIPs"),
    pytest.param("IPv4", {"internalTrafficPolicy": "Local"}, None, {}, "internal_policy_local", True, id="ITP Local"),
    pytest.param("IPv4", {"internalTrafficPolicy": "Cluster"}, None, {}, "internal_policy_local", False, id="ITP Cluster"),
    pytest.param("IPv4", {"trafficDistribution": "PreferSameZone"}, None, {}, "traffic_distribution", "PreferSameZone", id="trafficDistribution carried"),
    # session affinity
    pytest.param("IPv4", {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 300}}}, None, {}, "session_affinity_seconds", 300, id="ClientIP affinity with timeout"),
    pytest.param("IPv4", {"sessionAffinity": "ClientIP"}, None, {}, "session_affinity_seconds", 10800, id="ClientIP affinity defaults to 10800 s"),
    pytest.param("IPv4", {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {}}}, None, {}, "session_affinity_seconds", 10800, id="ClientIP affinity with empty config defaults too"),
    pytest.param("IPv4", {"sessionAffinity": "None", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 300}}}, None, {}, "session_affinity_seconds", 0, id="affinity None ignores the config"),
    # ports
    pytest.param("IPv4", {"type": "NodePort", "ports": [port("p80", "TCP", 80, 30080, 8080)]}, None, {}, "node_port", 30080, id="nodePort kept"),
    pytest.param("IPv4", {}, None, {}, "target_port", 8080, id="targetPort kept"),
    pytest.param("IPv4", {"ports": [{"name": "p80", "port": 80}]}, None, {}, "protocol", "TCP", id="protocol defaults to TCP"),
    # scheduler annotations (svcnet's own, for the userspace and IPVS data planes)
    pytest.param("IPv4", {}, None, {SCHEDULER_ANNOTATION: " sh "}, "scheduler", "sh", id="scheduler annotation trimmed"),
    pytest.param("IPv4", {}, None, {}, "scheduler", "", id="no scheduler annotation"),
    pytest.param("IPv4", {}, None, {SCHEDULER_FLAGS_ANNOTATION: "sh-port, sh-fallback,,"}, "scheduler_flags", ("sh-port", "sh-fallback"), id="scheduler flags split and trimmed"),
]


@pytest.mark.parametrize("family, spec, status, annotations, field, expected", FIELD_CASES)
def test_service_port_infos_field(family, spec, status, annotations, field, expected):  # type: ignore[no-untyped-def]
    svc = service("ns1", "svc1", status=status, annotations=annotations, **{**BASE, **spec})
    (info,) = service_port_infos(svc, family).values()
    assert getattr(info, field) == expected


def test_service_port_infos_session_affinity_flag():
    on = service("ns1", "svc1", sessionAffinity="ClientIP", **BASE)
    off = service("ns1", "svc1", **BASE)
    assert [i.session_affinity for i in service_port_infos(on).values()] == [True]
    assert [i.session_affinity for i in service_port_infos(off).values()] == [False]


def test_service_port_infos_keys_carry_protocol():
    """A DNS-style Service with the same number on TCP and UDP gives two ports."""
    svc = service("kube-system", "dns", **{**BASE, "ports": [port("dns-tcp", "TCP", 53), port("dns", "UDP", 53)]})
    assert sorted(service_port_infos(svc)) == [spn("kube-system", "dns", "dns", "UDP"), spn("kube-system", "dns", "dns-tcp", "TCP")]


@pytest.mark.parametrize(
    "name, text",
    [
        pytest.param(ServicePortName("ns1", "svc1", "p80", "TCP"), "ns1/svc1:p80", id="named port"),
        pytest.param(ServicePortName("ns1", "svc1", "", "UDP"), "ns1/svc1", id="unnamed port, no colon, protocol not shown"),
    ],
)
def test_service_port_name_str(name, text):  # type: ignore[no-untyped-def]
    assert str(name) == text
    assert name.service == ("ns1", "svc1")


# --- predicates -------------------------------------------------------------------------------


def info(**kw) -> ServicePortInfo:  # type: ignore[no-untyped-def]
    return ServicePortInfo(name=ServicePortName("ns1", "svc1"), cluster_ip="10.96.0.10", port=80, protocol="TCP", **kw)


# Truth table of serviceport.go's ExternallyAccessible / UsesClusterEndpoints / UsesLocalEndpoints
# (see reference kube-proxy.md §0). Each row: fields, (externally_accessible, uses_cluster, uses_local).
PREDICATE_CASES = [
    pytest.param({}, (False, True, False), id="plain ClusterIP"),
    pytest.param({"internal_policy_local": True}, (False, False, True), id="ITP Local, internal only"),
    pytest.param({"external_policy_local": True}, (False, True, False), id="ETP Local ignored when not externally accessible"),
    pytest.param({"node_port": 30080}, (True, True, False), id="NodePort, Cluster policies"),
    pytest.param({"node_port": 30080, "external_policy_local": True}, (True, True, True), id="NodePort, ETP Local (cluster set kept for short-circuiting)"),
    pytest.param({"node_port": 30080, "internal_policy_local": True}, (True, True, True), id="NodePort, ITP Local"),
    pytest.param({"external_ips": ("192.0.2.1",), "external_policy_local": True}, (True, True, True), id="externalIPs make a port externally accessible"),
    pytest.param({"load_balancer_vips": ("192.0.2.9",)}, (True, True, False), id="LB VIPs make a port externally accessible"),
    pytest.param({"load_balancer_source_ranges": ("192.0.2.0/24",)}, (False, True, False), id="source ranges alone do not"),
]


@pytest.mark.parametrize("fields, expected", PREDICATE_CASES)
def test_service_port_info_predicates(fields, expected):  # type: ignore[no-untyped-def]
    i = info(**fields)
    assert (i.externally_accessible(), i.uses_cluster_endpoints(), i.uses_local_endpoints()) == expected


# Ported (adapted) from pkg/proxy/serviceport_test.go::TestUsesClusterEndpoints
# (kubernetes/kubernetes@66327a4, added with PR #131503). Upstream builds a BaseServicePortInfo
# even for a headless Service; svcnet builds none (ShouldSkipService), so "does not use cluster
# endpoints" reads "has no port info at all" here.
USES_CLUSTER_CASES = [
    pytest.param({"clusterIP": "10.0.0.1", "externalIPs": ["192.168.99.11"]}, True, id="normal service with external IPs"),
    pytest.param({"clusterIP": "None", "externalIPs": ["192.168.99.11"]}, False, id="headless service with external IPs"),
    pytest.param({"clusterIP": "None"}, False, id="headless service without external IPs"),
]


@pytest.mark.parametrize("spec, expected", USES_CLUSTER_CASES)
def test_service_port_info_uses_cluster_endpoints_upstream(spec, expected):  # type: ignore[no-untyped-def]
    infos = service_port_infos(service("ns1", "svc1", ports=[{"port": 80, "protocol": "TCP"}], **spec))
    assert any(i.uses_cluster_endpoints() for i in infos.values()) is expected
