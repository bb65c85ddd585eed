"""ClusterIndex: stripping, merging, reverse indexes, change detection, serial and generation."""

import dataclasses

from dnstest_fixtures import endpoint, endpoint_slice, namespace, pod, service
from svcnet.dns.config import DNSConfig
from svcnet.dns.index import ClusterIndex, to_service, to_slice


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


def test_to_service_strips_and_defaults():
    svc = to_service(service("web", "ns1", cluster_ips=["10.0.0.1", "fd00::0001"], ports=[("http", "TCP", 80), ("", "UDP", 53)]))
    assert svc.cluster_ips == ("10.0.0.1", "fd00::1") and not svc.headless
    assert [(p.name, p.protocol, p.port) for p in svc.ports] == [("http", "TCP", 80), ("", "UDP", 53)]
    hl = to_service(service("hl", "ns1", cluster_ips=["None"]))
    assert hl.headless and hl.cluster_ips == () and hl.ports[0].port == -1  # sentinel: no ports
    ext = to_service(service("ext", "ns1", type="ExternalName", external_name="a.example"))
    assert ext.external_name == "a.example" and ext.cluster_ips == () and not ext.headless
    assert to_service({"metadata": {"name": "x"}}).namespace == "default"  # malformed: stripped as far as it goes


def test_to_slice_readiness_and_pod_names():
    sl = to_slice(endpoint_slice("s", "ns1", "web", [endpoint("10.0.0.1", pod="p1"), endpoint("10.0.0.2", ready=False),
                                                      endpoint("10.0.0.3", ready=None), {"addresses": ["not-an-ip"]}]))
    assert [(e.ip, e.ready, e.pod_name) for e in sl.endpoints] == [("10.0.0.1", True, "p1"), ("10.0.0.2", False, ""), ("10.0.0.3", True, "")]
    assert sl.service == "web" and sl.endpoints[0].ports[0].port == -1


def test_index_merges_slices_dedup_by_ip_ready_only():
    idx = ClusterIndex()
    idx.apply("Service", "ADDED", service("web", "ns1", cluster_ips=["None"]))
    idx.apply("EndpointSlice", "ADDED", endpoint_slice("web-b", "ns1", "web", [endpoint("10.0.0.2", hostname="second"), endpoint("10.0.0.9", ready=False)], [("http", "TCP", 80)]))
    idx.apply("EndpointSlice", "ADDED", endpoint_slice("web-a", "ns1", "web", [endpoint("10.0.0.1"), endpoint("10.0.0.2", hostname="first")], [("https", "TCP", 443)]))
    eps = idx.endpoints("ns1", "web")
    assert [e.ip for e in eps] == ["10.0.0.1", "10.0.0.2"]
    two = eps[1]
    assert two.hostname == "first"  # the first slice by name wins
    assert sorted(p.port for p in two.ports) == [80, 443]  # ports of every slice carrying the IP
    owners = idx.endpoint_owners("10.0.0.2")
    assert [(ns, name) for _, ns, name, _ in owners] == [("ns1", "web")]
    assert idx.endpoint_owners("10.0.0.9") == []  # not ready: not indexed
    idx.apply("EndpointSlice", "DELETED", endpoint_slice("web-a", "ns1", "web", []))
    assert [e.ip for e in idx.endpoints("ns1", "web")] == ["10.0.0.2"]
    assert idx.endpoint_owners("10.0.0.1") == []


def test_index_slice_relabel_moves_endpoints():
    idx = ClusterIndex()
    idx.apply("EndpointSlice", "ADDED", endpoint_slice("s1", "ns1", "a", [endpoint("10.0.0.1")]))
    idx.apply("EndpointSlice", "MODIFIED", endpoint_slice("s1", "ns1", "b", [endpoint("10.0.0.1")]))
    assert idx.endpoints("ns1", "a") == () and len(idx.endpoints("ns1", "b")) == 1
    unlabeled = endpoint_slice("s1", "ns1", "b", [endpoint("10.0.0.1")])
    del unlabeled["metadata"]["labels"]
    assert idx.apply("EndpointSlice", "MODIFIED", unlabeled)
    assert idx.endpoints("ns1", "b") == () and idx.endpoint_owners("10.0.0.1") == []


def test_index_cluster_ip_reverse_and_namespace_existence():
    idx = ClusterIndex()
    idx.apply("Service", "ADDED", service("b", "ns1", cluster_ips=["10.0.0.1"]))
    idx.apply("Service", "ADDED", service("a", "ns1", cluster_ips=["10.0.0.1"]))
    assert [s.name for s in idx.services_by_cluster_ip("10.0.0.1")] == ["a", "b"]
    assert idx.namespace_exists("ns1") and not idx.namespace_exists("ns2")
    idx.apply("Namespace", "ADDED", namespace("ns2"))
    assert idx.namespace_exists("ns2")
    idx.apply("Service", "DELETED", service("a", "ns1"))
    idx.apply("Service", "DELETED", service("b", "ns1"))
    assert not idx.namespace_exists("ns1") and idx.services_by_cluster_ip("10.0.0.1") == []
    idx.apply("Service", "MODIFIED", service("c", "ns1", cluster_ips=["10.0.0.5"]))  # MODIFIED of an unseen object = add
    assert idx.service("ns1", "c").cluster_ips == ("10.0.0.5",)


def test_index_serial_and_generation():
    clock = Clock()
    idx = ClusterIndex(clock=clock)
    assert idx.serial == 1_000_000 and not idx.synced
    g = idx.generation
    clock.t += 10
    assert idx.apply("Service", "ADDED", service("a", "ns1", cluster_ips=["10.0.0.1"]))
    assert idx.serial == 1_000_010 and idx.generation == g + 1
    clock.t += 10
    # a no-op update (only fields DNS ignores changed) moves nothing
    obj = service("a", "ns1", cluster_ips=["10.0.0.1"])
    obj["metadata"]["annotations"] = {"x": "y"}
    obj["status"] = {"loadBalancer": {}}
    assert not idx.apply("Service", "MODIFIED", obj)
    assert idx.serial == 1_000_010 and idx.generation == g + 1
    # namespaces move the generation but not the serial
    assert idx.apply("Namespace", "ADDED", namespace("ns9"))
    assert idx.serial == 1_000_010 and idx.generation == g + 2
    assert not idx.apply("Namespace", "ADDED", namespace("ns9"))
    # slices move both
    assert idx.apply("EndpointSlice", "ADDED", endpoint_slice("s", "ns1", "a", [endpoint("10.1.0.1")]))
    assert idx.serial == 1_000_020 and idx.generation == g + 3
    # the clock going backwards never moves the serial back
    clock.t -= 100
    assert idx.apply("EndpointSlice", "DELETED", endpoint_slice("s", "ns1", "a", []))
    assert idx.serial == 1_000_020
    idx.mark_synced()
    assert idx.synced and idx.generation == g + 5
    idx.mark_synced()
    assert idx.generation == g + 5
    assert not idx.apply("Service", "BOOKMARK", {"metadata": {"resourceVersion": "5"}})
    assert not idx.apply("ConfigMap", "ADDED", {"metadata": {"name": "x"}})


def test_index_pods_only_when_tracked():
    idx = ClusterIndex.for_config(DNSConfig(pods="verified"))
    assert idx.track_pods
    assert idx.apply("Pod", "ADDED", pod("p", "ns1", "10.2.0.1"))
    assert idx.pods_by_ip("10.2.0.1") == [("ns1", "p")]
    assert idx.apply("Pod", "MODIFIED", pod("p", "ns1", "10.2.0.1", phase="Failed"))
    assert idx.pods_by_ip("10.2.0.1") == []
    assert not ClusterIndex.for_config(DNSConfig()).track_pods


def test_index_counts():
    idx = ClusterIndex()
    idx.apply("Service", "ADDED", service("a", "ns1", cluster_ips=["None"]))
    idx.apply("EndpointSlice", "ADDED", endpoint_slice("s", "ns1", "a", [endpoint("10.1.0.1"), endpoint("10.1.0.2")]))
    assert idx.counts() == {"services": 1, "endpointslices": 1, "endpoints": 2, "namespaces": 1, "pods": 0}


def test_config_validate():
    assert DNSConfig().validate() == []
    bad = DNSConfig(ttl=4000, pods="maybe", reverse_zones=("example.com",), local_ips=("x",), ns_service="kube-dns",
                    upstreams=("1.2.3.4", "example.com:53"))
    problems = bad.validate()
    assert len(problems) == 7, problems
    c = DNSConfig(zone="Cluster.Local.", reverse_zones=("0.10.IN-ADDR.ARPA.",))
    assert c.zone == "cluster.local" and c.zones == ("0.10.in-addr.arpa", "cluster.local")
    assert dataclasses.replace(c, ttl=30).zones == c.zones


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(["metadata", "spec", "status", "endpoints", "ports", "addressType", "labels", "name",
                         "namespace", "clusterIP", "clusterIPs", "type", "externalName", "addresses", "conditions",
                         "ready", "hostname", "targetRef", "podIPs", "podIP", "phase", "port", "protocol"])
_objects = st.recursive(st.none() | st.text(max_size=8) | st.integers(-2, 70000) | st.booleans(),
                        lambda ch: st.lists(ch, max_size=3) | st.dictionaries(_keys, ch, max_size=5), max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["Service", "EndpointSlice", "Namespace", "Pod"]), st.sampled_from(["ADDED", "MODIFIED", "DELETED"]),
       st.dictionaries(_keys, _objects, max_size=5))
def test_index_apply_never_raises_on_malformed_objects(kind, event, obj):
    idx = ClusterIndex(track_pods=True)
    idx.apply(kind, event, obj)
    idx.apply(kind, "DELETED", obj)
