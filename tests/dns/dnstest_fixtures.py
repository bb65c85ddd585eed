"""Kubernetes JSON objects for the DNS tests: builders and the upstream fixtures.

The fixtures are the ones the vectors in ``reference/dns.md`` §3 were written against, turned into
the objects a real API server would hand our informers (Services and discovery.k8s.io/v1
EndpointSlices), so every test goes through ``ClusterIndex.apply``:

- :func:`coredns_handler_objects`: ``plugin/kubernetes/handler_test.go`` ``svcIndex``/``epsIndex``;
- :func:`coredns_reverse_objects`: ``plugin/kubernetes/reverse_test.go`` (as described in dns.md);
- :func:`ci_objects`: ``coredns/ci`` ``build/kubernetes/dns-test.yaml`` (the parts the
  address/srv/ptr tests query).
"""

from __future__ import annotations

from collections.abc import Iterable

from svcnet.dns.index import ClusterIndex


def service(name, namespace, *, cluster_ips=(), ports=(), type="ClusterIP", external_name=None):
    spec: dict = {"type": type}
    if cluster_ips:
        spec["clusterIP"] = cluster_ips[0]
        spec["clusterIPs"] = list(cluster_ips)
    if ports:
        spec["ports"] = [
            {"name": n, "protocol": proto, "port": port, "targetPort": port} if n else {"protocol": proto, "port": port}
            for n, proto, port in ports
        ]
    if external_name is not None:
        spec["externalName"] = external_name
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"},
        "spec": spec,
    }


def endpoint(ip, *, hostname=None, ready=True, pod=None):
    ep: dict = {"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": False}}
    if ready is None:
        ep["conditions"] = {}
    if hostname:
        ep["hostname"] = hostname
    if pod:
        ep["targetRef"] = {"kind": "Pod", "name": pod, "namespace": "x"}
    return ep


def endpoint_slice(name, namespace, service_name, endpoints: Iterable[dict], ports=(), address_type=None):
    eps = list(endpoints)
    if address_type is None:
        address_type = "IPv6" if eps and ":" in eps[0]["addresses"][0] else "IPv4"
    obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": address_type,
        "endpoints": eps,
    }
    if ports:
        obj["ports"] = [{"name": n, "protocol": proto, "port": port} for n, proto, port in ports]
    return obj


def namespace(name):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def pod(name, ns, ip, phase="Running"):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "status": {"phase": phase, "podIP": ip, "podIPs": [{"ip": ip}]},
    }


def load(objects: Iterable[dict], *, track_pods=False, synced=True, clock=None) -> ClusterIndex:
    index = ClusterIndex(track_pods=track_pods, **({"clock": clock} if clock else {}))
    for obj in objects:
        index.apply(obj["kind"], "ADDED", obj)
    if synced:
        index.mark_synced()
    return index


HTTP = ("http", "TCP", 80)


def coredns_handler_objects() -> list[dict]:
    """handler_test.go svcIndex/epsIndex (dns.md §3.1)."""
    return [
        service("kubedns", "kube-system", cluster_ips=["10.0.0.10"], ports=[("dns", "UDP", 53)]),
        endpoint_slice("kubedns-slice1", "kube-system", "kubedns", [endpoint("172.0.0.100")], [("dns", "UDP", 53)]),
        service("svc1", "testns", cluster_ips=["10.0.0.1"], ports=[HTTP]),
        endpoint_slice("svc1-slice1", "testns", "svc1", [endpoint("172.0.0.1", hostname="ep1a")], [HTTP]),
        service("svcempty", "testns", cluster_ips=["10.0.0.1"], ports=[HTTP]),
        endpoint_slice("svcempty-slice1", "testns", "svcempty", [], [HTTP]),
        service("svc6", "testns", cluster_ips=["1234:abcd::1"], ports=[HTTP]),
        service("svc-dual-stack", "testns", cluster_ips=["10.0.0.3", "10::3"], ports=[HTTP]),
        service("hdls1", "testns", cluster_ips=["None"]),
        endpoint_slice(
            "hdls1-slice1", "testns", "hdls1",
            [
                endpoint("172.0.0.2"),
                endpoint("172.0.0.3"),
                endpoint("172.0.0.4", hostname="dup-name"),
                endpoint("172.0.0.5", hostname="dup-name"),
            ],
            [HTTP],
        ),
        endpoint_slice("hdls1-slice2", "testns", "hdls1", [endpoint("5678:abcd::1"), endpoint("5678:abcd::2")], [HTTP]),
        service("hdlsprtls", "testns", cluster_ips=["None"]),
        endpoint_slice("hdlsprtls-slice1", "testns", "hdlsprtls", [endpoint("172.0.0.20")]),
        service("external", "testns", type="ExternalName", external_name="ext.interwebs.test", ports=[HTTP]),
        service(
            "external-to-service", "testns", type="ExternalName",
            external_name="svc1.testns.svc.cluster.local.", ports=[HTTP],
        ),
        service("svc1", "unexposedns", cluster_ips=["10.0.0.2"], ports=[HTTP]),
    ]


def coredns_reverse_objects() -> list[dict]:
    """reverse_test.go TestReverse (dns.md §3.2 "Reverse")."""
    return [
        service("svc1", "testns", cluster_ips=["192.168.1.100"], ports=[HTTP]),
        endpoint_slice(
            "svc1-slice1", "testns", "svc1",
            [endpoint("10.0.0.100", hostname="ep1a"), endpoint("10.0.0.99", hostname="double-ep")],
            [HTTP],
        ),
        # a second slice carrying the same IP: one PTR, not two
        endpoint_slice("svc1-slice2", "testns", "svc1", [endpoint("10.0.0.100", hostname="ep1a")], [HTTP]),
        endpoint_slice(
            "svc1-slice3", "testns", "svc1",
            [
                endpoint("1234:abcd::1", hostname="ep1b"),
                endpoint("fd00:77:30::a", hostname="ip6svc1ex"),
                endpoint("fd00:77:30::2:9ba6", hostname="ip6svc1in"),
            ],
            [HTTP],
        ),
        service("svc2", "testns", cluster_ips=["192.168.1.200"], ports=[HTTP]),
        endpoint_slice("svc2-slice1", "testns", "svc2", [endpoint("10.0.0.99", hostname="double-ep")], [HTTP]),
    ]


REVERSE_ZONES = (
    "0.10.in-addr.arpa",
    "168.192.in-addr.arpa",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa",
)

CI_LOCAL_IP = "10.244.0.5"  # the CoreDNS pod's own IP in the CI cluster fixture


def ci_objects() -> list[dict]:
    """coredns/ci dns-test.yaml, the parts address_test/srv_test/ptr_test query."""
    return [
        namespace("test-1"),
        namespace("test-2"),
        namespace("kube-system"),
        service("kube-dns", "kube-system", cluster_ips=["10.96.0.10"], ports=[("dns", "UDP", 53), ("dns-tcp", "TCP", 53)]),
        endpoint_slice("kube-dns-x1", "kube-system", "kube-dns", [endpoint(CI_LOCAL_IP, pod="coredns-1")],
                       [("dns", "UDP", 53), ("dns-tcp", "TCP", 53)]),
        service("headless-svc", "test-1", cluster_ips=["None"], ports=[("http", "TCP", 80)]),
        endpoint_slice("headless-svc-v4", "test-1", "headless-svc",
                       [endpoint("172.17.0.254", pod="p1"), endpoint("172.17.0.255", pod="p2")], [("http", "TCP", 80)]),
        endpoint_slice("headless-svc-v6", "test-1", "headless-svc",
                       [endpoint("1234:abcd::1", pod="p3"), endpoint("1234:abcd::2", pod="p4")], [("http", "TCP", 80)]),
        service("svc-unready", "test-1", cluster_ips=["None"], ports=[("http", "TCP", 80)]),
        endpoint_slice("svc-unready-x", "test-1", "svc-unready", [endpoint("172.17.0.180", ready=False)], [("http", "TCP", 80)]),
        service("svc-1-a", "test-1", cluster_ips=["10.96.0.100"], ports=[("http", "TCP", 80), ("https", "TCP", 443)]),
        endpoint_slice("svc-1-a-x", "test-1", "svc-1-a", [endpoint("172.17.0.253", hostname="svc-1-a")],
                       [("http", "TCP", 80), ("https", "TCP", 443)]),
        service("new-svc", "test-1", cluster_ips=["10.96.0.222"], ports=[("http", "TCP", 80)]),
        endpoint_slice("new-svc-x", "test-1", "new-svc", [endpoint("172.17.0.222")], [("http", "TCP", 80)]),
        service("svc-c", "test-3", cluster_ips=["10.96.0.120"], ports=[("http", "TCP", 80)]),
        service("ext-svc", "test-1", type="ExternalName", external_name="example.net"),
    ]
