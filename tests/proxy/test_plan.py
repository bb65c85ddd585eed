"""Tables for svcnet.proxy.userspace.plan: which listeners, balancers and health checks a node
proxy wants, computed from Service and EndpointSlice objects (no I/O)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import svcnet.proxy.userspace.plan as plan_mod
from svcnet.proxy.model import endpoints_by_port, service_port_infos, slice_service
from svcnet.proxy.userspace.plan import NodeConfig, plan

NODE1 = NodeConfig(node_name="node1", node_ips=("127.0.0.1",))
TWO_IPS = NodeConfig(node_name="node1", node_ips=("127.0.0.1", "127.0.1.2"))


def svc(name="svc1", *, ports=None, ns="ns1", type="ClusterIP", cluster_ip="127.96.0.10", annotations=None, status=None, **spec):  # type: ignore[no-untyped-def]
    ports = ports if ports is not None else [{"name": "p80", "port": 80, "protocol": "TCP", "targetPort": 8080}]
    obj = {
        "metadata": {"namespace": ns, "name": name, "annotations": annotations or {}},
        "spec": {"type": type, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip] if cluster_ip != "None" else ["None"], "ports": ports, **spec},
    }
    if status is not None:
        obj["status"] = status
    return obj


def eps(svc_name="svc1", *endpoints, ports=None, ns="ns1"):  # type: ignore[no-untyped-def]
    """A slice; endpoints are (ip, node) or (ip, node, ready, serving, terminating)."""
    ports = ports if ports is not None else [{"name": "p80", "port": 8080, "protocol": "TCP"}]
    items = []
    for e in endpoints:
        ip, node, *cond = e
        c = {}
        if cond:
            c = {"ready": cond[0], "serving": cond[1], "terminating": cond[2]}
        items.append({"addresses": [ip], "nodeName": node, "conditions": c})
    return {
        "metadata": {"namespace": ns, "name": f"{svc_name}-x", "labels": {"kubernetes.io/service-name": svc_name}},
        "addressType": "IPv4",
        "ports": ports,
        "endpoints": items,
    }


LB_STATUS = {"loadBalancer": {"ingress": [{"ip": "127.240.0.5", "ipMode": "VIP"}]}}


def run(services, slices, node=NODE1):  # type: ignore[no-untyped-def]
    smap = {}
    for s in services:
        smap.update(service_port_infos(s))
    by_svc: dict = {}
    for sl in slices:
        by_svc.setdefault(slice_service(sl), []).append(sl)
    emap = {}
    for sls in by_svc.values():
        emap.update(endpoints_by_port(sls, node_name=node.node_name))
    return plan(smap, emap, node)


def summary(p):  # type: ignore[no-untyped-def]
    """{"TCP 127.96.0.10:80": "ClusterIP cluster 10.0.0.1:8080,..."}."""
    out = {}
    for (proto, ip, port), spec in p.listeners.items():
        b = p.balancers[spec.balancer]
        out[f"{proto} {ip}:{port}"] = f"{spec.kind} {b.policy} " + ",".join(str(e) for e in b.endpoints)
    return out


def skipped(p):  # type: ignore[no-untyped-def]
    return {f"{s.protocol} {s.ip}:{s.port}": s.reason for s in p.skipped}


# Each case: (services, slices, node, expected listeners summary, expected skipped reasons)
CASES = [
    pytest.param(
        [svc()], [eps("svc1", ("127.244.0.1", "node1"), ("127.244.0.2", "node2"))], NODE1,
        {"TCP 127.96.0.10:80": "ClusterIP cluster 127.244.0.1:8080,127.244.0.2:8080"},
        {},
        id="clusterip two endpoints",
    ),
    pytest.param(
        [svc(type="NodePort", ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}])],
        [eps("svc1", ("127.244.0.1", "node2"))], TWO_IPS,
        {
            "TCP 127.96.0.10:80": "ClusterIP cluster 127.244.0.1:8080",
            "TCP 127.0.0.1:30080": "NodePort cluster 127.244.0.1:8080",
            "TCP 127.0.1.2:30080": "NodePort cluster 127.244.0.1:8080",
        },
        {},
        id="nodeport on every node ip reaches a pod on another node",
    ),
    pytest.param(
        [svc(externalIPs=["127.100.0.1", "127.100.0.2"])], [eps("svc1", ("127.244.0.1", "node1"))], NODE1,
        {
            "TCP 127.96.0.10:80": "ClusterIP cluster 127.244.0.1:8080",
            "TCP 127.100.0.1:80": "ExternalIP cluster 127.244.0.1:8080",
            "TCP 127.100.0.2:80": "ExternalIP cluster 127.244.0.1:8080",
        },
        {},
        id="externalIPs",
    ),
    pytest.param(
        [svc(type="LoadBalancer", ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}], status=LB_STATUS)],
        [eps("svc1", ("127.244.0.1", "node1"))], NODE1,
        {
            "TCP 127.96.0.10:80": "ClusterIP cluster 127.244.0.1:8080",
            "TCP 127.240.0.5:80": "LoadBalancer cluster 127.244.0.1:8080",
            "TCP 127.0.0.1:30080": "NodePort cluster 127.244.0.1:8080",
        },
        {},
        id="loadbalancer vip bound standalone",
    ),
    pytest.param(
        [svc(type="LoadBalancer", ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}], status=LB_STATUS)],
        [eps("svc1", ("127.244.0.1", "node1"))], NodeConfig(node_name="node1", node_ips=("127.0.0.1",), bind_lb_ips=False),
        {
            "TCP 127.96.0.10:80": "ClusterIP cluster 127.244.0.1:8080",
            "TCP 127.0.0.1:30080": "NodePort cluster 127.244.0.1:8080",
        },
        {},
        id="loadbalancer vip left to the cloud lb",
    ),
    pytest.param(
        [svc(type="NodePort", externalIPs=["127.100.0.1"], ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}])],
        [eps("svc1", ("127.244.0.1", "node1"))],
        NodeConfig(node_name="node2", node_ips=("127.0.1.2",), bind_cluster_ips=False),
        {"TCP 127.0.1.2:30080": "NodePort cluster 127.244.0.1:8080"},
        {},
        id="second local node binds only its nodeports",
    ),
    pytest.param(
        [svc(type="NodePort", externalTrafficPolicy="Local", ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}])],
        [eps("svc1", ("127.244.0.1", "node1"), ("127.244.0.2", "node2"))], NODE1,
        {
            "TCP 127.96.0.10:80": "ClusterIP cluster 127.244.0.1:8080,127.244.0.2:8080",
            "TCP 127.0.0.1:30080": "NodePort local 127.244.0.1:8080",
        },
        {},
        id="etp local: external traffic to local endpoints, clusterip to all",
    ),
    pytest.param(
        [svc(type="NodePort", externalTrafficPolicy="Local", ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}])],
        [eps("svc1", ("127.244.0.2", "node2"))], NODE1,
        {"TCP 127.96.0.10:80": "ClusterIP cluster 127.244.0.2:8080"},
        {"TCP 127.0.0.1:30080": "no local endpoints"},
        id="etp local without local endpoints: no nodeport listener",
    ),
    pytest.param(
        [svc(internalTrafficPolicy="Local")],
        [eps("svc1", ("127.244.0.1", "node1"), ("127.244.0.2", "node2"))], NODE1,
        {"TCP 127.96.0.10:80": "ClusterIP local 127.244.0.1:8080"},
        {},
        id="itp local",
    ),
    pytest.param(
        [svc(internalTrafficPolicy="Local")],
        [eps("svc1", ("127.244.0.2", "node2"))], NODE1,
        {},
        {"TCP 127.96.0.10:80": "no local endpoints"},
        id="itp local without local endpoints",
    ),
    pytest.param(
        [svc()],
        [eps("svc1", ("127.244.0.1", "node1", False, True, True), ("127.244.0.2", "node1", False, True, True))], NODE1,
        {"TCP 127.96.0.10:80": "ClusterIP cluster 127.244.0.1:8080,127.244.0.2:8080"},
        {},
        id="terminating serving endpoints used when nothing is ready",
    ),
    pytest.param(
        [svc()],
        [eps("svc1", ("127.244.0.1", "node1", False, True, True), ("127.244.0.2", "node1", True, True, False))], NODE1,
        {"TCP 127.96.0.10:80": "ClusterIP cluster 127.244.0.2:8080"},
        {},
        id="terminating serving endpoints unused while one is ready",
    ),
    pytest.param(
        [svc()],
        [eps("svc1", ("127.244.0.1", "node1", False, False, True), ("127.244.0.2", "node1", False, False, False))], NODE1,
        {},
        {"TCP 127.96.0.10:80": "no endpoints"},
        id="not ready and not serving: no listener",
    ),
    pytest.param(
        [svc()], [], NODE1,
        {},
        {"TCP 127.96.0.10:80": "no endpoints"},
        id="no endpoints: no listener",
    ),
    pytest.param(
        [svc(ports=[{"name": "p80", "port": 80, "protocol": "SCTP"}])],
        [eps("svc1", ("127.244.0.1", "node1"), ports=[{"name": "p80", "port": 8080, "protocol": "SCTP"}])], NODE1,
        {},
        {"SCTP 127.96.0.10:80": "protocol SCTP is not supported by the userspace proxy"},
        id="sctp skipped with a reason",
    ),
    pytest.param(
        [svc(ports=[{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}])],
        [eps("svc1", ("127.244.0.1", "node1"), ports=[{"name": "dns", "port": 5353, "protocol": "UDP"}, {"name": "dns-tcp", "port": 5353, "protocol": "TCP"}])],
        NODE1,
        {"UDP 127.96.0.10:53": "ClusterIP cluster 127.244.0.1:5353", "TCP 127.96.0.10:53": "ClusterIP cluster 127.244.0.1:5353"},
        {},
        id="udp and tcp on one port number",
    ),
    pytest.param(
        [svc("a", externalIPs=["127.100.0.1"]), svc("b", cluster_ip="127.96.0.11", externalIPs=["127.100.0.1"])],
        [eps("a", ("127.244.0.1", "node1")), eps("b", ("127.244.0.2", "node1"))], NODE1,
        {
            "TCP 127.96.0.10:80": "ClusterIP cluster 127.244.0.1:8080",
            "TCP 127.100.0.1:80": "ExternalIP cluster 127.244.0.1:8080",
            "TCP 127.96.0.11:80": "ClusterIP cluster 127.244.0.2:8080",
        },
        {"TCP 127.100.0.1:80": "TCP 127.100.0.1:80 is already used by ns1/a:p80 (ExternalIP)"},
        id="externalIP claimed twice: first service wins",
    ),
    pytest.param(
        [svc(cluster_ip="None"), svc("ext", type="ExternalName", cluster_ip="", externalName="example.com")],
        [eps("svc1", ("127.244.0.1", "node1"))], NODE1,
        {}, {},
        id="headless and ExternalName services get nothing",
    ),
    pytest.param(
        [svc(type="NodePort", ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}])],
        [eps("svc1", ("127.244.0.1", "node1"))], NodeConfig(node_name="node1", node_ips=("127.0.0.1", "fd00::1")),
        {"TCP 127.96.0.10:80": "ClusterIP cluster 127.244.0.1:8080", "TCP 127.0.0.1:30080": "NodePort cluster 127.244.0.1:8080"},
        {},
        id="node IP of the other family ignored",
    ),
]


@pytest.mark.parametrize("services, slices, node, want, want_skipped", CASES)
def test_plan_listeners(services, slices, node, want, want_skipped):  # type: ignore[no-untyped-def]
    p = run(services, slices, node)
    assert summary(p) == want
    got_skipped = {k: v for k, v in skipped(p).items() if "127.96.0.1:443" not in k}
    assert got_skipped == want_skipped


def test_plan_listeners_of_one_port_and_policy_share_a_balancer():
    p = run(
        [svc(type="NodePort", externalTrafficPolicy="Local", ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}])],
        [eps("svc1", ("127.244.0.1", "node1"))],
        TWO_IPS,
    )
    keys = {k: spec.balancer for k, spec in p.listeners.items()}
    assert keys[("TCP", "127.0.0.1", 30080)] == keys[("TCP", "127.0.1.2", 30080)]
    assert keys[("TCP", "127.0.0.1", 30080)][1] == "local"
    assert keys[("TCP", "127.96.0.10", 80)][1] == "cluster"
    assert len(p.balancers) == 2


AFFINITY_CASES = [
    # (spec fields, annotations, expected (affinity, scheduler, flags), warning fragment or None)
    pytest.param({}, {}, (0, "rr", ()), None, id="defaults: no affinity, rr"),
    pytest.param({"sessionAffinity": "ClientIP"}, {}, (10800, "rr", ()), None, id="ClientIP default timeout 10800"),
    pytest.param(
        {"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 2}}}, {},
        (2, "rr", ()), None, id="ClientIP timeout 2",
    ),
    pytest.param({}, {"svcnet.io/scheduler": "lc"}, (0, "lc", ()), None, id="scheduler annotation"),
    pytest.param(
        {}, {"svcnet.io/scheduler": "sh", "svcnet.io/scheduler-flags": "sh-port, sh-fallback"},
        (0, "sh", ("sh-port", "sh-fallback")), None, id="scheduler flags",
    ),
    pytest.param({}, {"svcnet.io/scheduler": "bogus"}, (0, "rr", ()), "unknown scheduler 'bogus'", id="unknown scheduler"),
    pytest.param(
        {}, {"svcnet.io/scheduler": "mh", "svcnet.io/scheduler-flags": "nope"},
        (0, "mh", ()), "unknown scheduler flag 'nope'", id="bad flags dropped",
    ),
]


@pytest.mark.parametrize("spec, annotations, want, warning", AFFINITY_CASES)
def test_plan_affinity_and_scheduler(spec, annotations, want, warning):  # type: ignore[no-untyped-def]
    p = run([svc(annotations=annotations, **spec)], [eps("svc1", ("127.244.0.1", "node1"))])
    (b,) = [b for b in p.balancers.values() if b.service.name == "svc1"]
    assert (b.affinity_seconds, b.scheduler, b.scheduler_flags) == want
    if warning is None:
        assert not p.warnings
    else:
        assert any(warning in w for w in p.warnings), p.warnings


def test_plan_node_default_scheduler():
    p = run([svc()], [eps("svc1", ("127.244.0.1", "node1"))], NodeConfig(node_name="node1", default_scheduler="wlc"))
    assert {b.scheduler for b in p.balancers.values()} == {"wlc"}


def test_plan_health_check_counts_distinct_local_ready_ips():
    ports = [
        {"name": "a", "port": 80, "protocol": "TCP", "nodePort": 30080},
        {"name": "b", "port": 81, "protocol": "TCP", "nodePort": 30081},
    ]
    service = svc(type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=32000, ports=ports, status=LB_STATUS)
    slice_ = eps(
        "svc1",
        ("127.244.0.1", "node1"),
        ("127.244.0.2", "node1", False, True, True),  # terminating: not counted
        ("127.244.0.3", "node2"),  # another node: not counted
        ports=[{"name": "a", "port": 8080, "protocol": "TCP"}, {"name": "b", "port": 8081, "protocol": "TCP"}],
    )
    p = run([service], [slice_], TWO_IPS)
    hc = p.health_checks[("ns1", "svc1")]
    assert (hc.port, hc.local_endpoints, hc.ips) == (32000, 1, ("127.0.0.1", "127.0.1.2"))


def test_plan_health_check_only_for_lb_etp_local():
    p = run(
        [svc(type="NodePort", externalTrafficPolicy="Local", healthCheckNodePort=32000,
             ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}])],
        [eps("svc1", ("127.244.0.1", "node1"))],
    )
    assert p.health_checks == {}


def test_plan_source_ranges_only_on_lb_listeners():
    p = run(
        [svc(type="LoadBalancer", loadBalancerSourceRanges=["127.1.0.0/16"], status=LB_STATUS,
             ports=[{"name": "p80", "port": 80, "protocol": "TCP", "nodePort": 30080}])],
        [eps("svc1", ("127.244.0.1", "node1"))],
    )
    ranges = {spec.kind: spec.source_ranges for spec in p.listeners.values()}
    assert ranges == {"ClusterIP": (), "NodePort": (), "LoadBalancer": ("127.1.0.0/16",)}


def test_plan_topology_hints_filter_the_cluster_set():
    slice_ = eps("svc1", ("127.244.0.1", "node1"), ("127.244.0.2", "node2"))
    slice_["endpoints"][0]["hints"] = {"forZones": [{"name": "zone-a"}]}
    slice_["endpoints"][1]["hints"] = {"forZones": [{"name": "zone-b"}]}
    node = NodeConfig(node_name="node1", node_labels={"topology.kubernetes.io/zone": "zone-b"})
    p = run([svc(trafficDistribution="PreferClose")], [slice_], node)
    assert summary(p) == {"TCP 127.96.0.10:80": "ClusterIP cluster 127.244.0.2:8080"}


_FORBIDDEN = {"socket", "asyncio", "subprocess", "sqlite3", "pyroute2", "selectors", "select", "threading"}


@pytest.mark.parametrize("module", ["plan.py", "balancer.py"])
def test_plan_purity_no_io_imports(module):  # type: ignore[no-untyped-def]
    path = Path(plan_mod.__file__).parent / module
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), f"{module} lacks a theory-of-operation docstring"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] not in _FORBIDDEN, f"{module} imports {name}"


def test_plan_userspace_modules_declare_all_and_stay_small():
    pkg = Path(plan_mod.__file__).parent
    for path in sorted(pkg.glob("*.py")):
        tree = ast.parse(path.read_text())
        assert len(path.read_text().splitlines()) <= 700, path.name
        if path.name == "__init__.py":
            continue
        names = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
        assert "__all__" in names, f"{path.name} lacks __all__"
