"""The cloud load balancer end to end: LB VIPs forwarded to the NodePorts of healthy nodes,
whose node proxies (two NodeProxy agents) forward to pods. Runs on the stdlib event loop (the
proxy tests run on uvloop), so the shared data plane is exercised on both."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "proxy"))

from proxytest import (  # noqa: E402
    connect_identify,
    make_client,
    make_node,
    make_service,
    make_slice,
    set_lb_ingress,
    start_backends,
    udp_ask,
    wait_for,
)

from svcnet.cloudlb import CloudLoadBalancer, plan_frontends  # noqa: E402
from svcnet.proxy.agent import NodeProxy  # noqa: E402

NODE1_IP = "127.0.0.1"
NODE2_IP = "127.0.1.2"


def common_free_port(ips: list[str]) -> int:
    for _ in range(50):
        with socket.socket() as s:
            s.bind((ips[0], 0))
            port = s.getsockname()[1]
        try:
            for ip in ips[1:]:
                with socket.socket() as s:
                    s.bind((ip, port))
            return port
        except OSError:
            continue
    raise RuntimeError("no common free port")


@pytest.fixture
async def env():  # type: ignore[no-untyped-def]
    client = make_client()
    await make_node(client, "node1", NODE1_IP)
    await make_node(client, "node2", NODE2_IP)
    hz = common_free_port([NODE1_IP, NODE2_IP])
    started: list = []

    class E:
        pass

    e = E()
    e.client, e.healthz_port = client, hz

    async def agent(node: str, ip: str, **kw) -> NodeProxy:  # type: ignore[no-untyped-def]
        np = NodeProxy(client, node_name=node, node_ips=[ip], bind_lb_ips=False, metrics_addr=None,
                       healthz_addr=f"{ip}:{hz}", **kw)
        started.append(np)
        await np.start(timeout=5)
        return np

    async def lb(**kw) -> CloudLoadBalancer:  # type: ignore[no-untyped-def]
        kw.setdefault("health_interval", 0.1)
        kw.setdefault("health_timeout", 0.5)
        c = CloudLoadBalancer(client, node_healthz_port=hz, **kw)
        started.append(c)
        await c.start(timeout=5)
        return c

    async def backends(names, udp=False):  # type: ignore[no-untyped-def]
        bs = await start_backends(names, udp=udp)
        started.extend(bs)
        return bs

    e.agent, e.lb, e.backends = agent, lb, backends
    yield e
    for x in reversed(started):
        await x.stop()


async def lb_service(e, name, vip, backends, eps, *, proto="TCP", **spec):  # type: ignore[no-untyped-def]
    svc = await make_service(e.client, name, [{"name": "p", "port": 80, "protocol": proto}], type="LoadBalancer", **spec)
    await make_slice(e.client, name, eps, [{"name": "p", "port": backends[0].port, "protocol": proto}])
    return await set_lb_ingress(e.client, svc, [vip])


def picker(lb: CloudLoadBalancer, vip: str, proto: str = "TCP"):  # type: ignore[no-untyped-def]
    return lb.pickers[(proto, vip, 80)]


def healthy_nodes(lb: CloudLoadBalancer, vip: str) -> set[str]:
    return {t.ip for t in picker(lb, vip).healthy_targets()}


async def test_cloudlb_reaches_pods_through_nodeports_of_healthy_nodes(env):  # type: ignore[no-untyped-def]
    b1, b2 = await env.backends(["pod-a", "pod-b"])
    await lb_service(env, "web", "127.240.0.20", [b1, b2], [(b1.ip, "node1"), (b2.ip, "node2")])
    await env.agent("node1", NODE1_IP)
    await env.agent("node2", NODE2_IP, bind_cluster_ips=False)
    lb = await env.lb()
    await wait_for(lambda: healthy_nodes(lb, "127.240.0.20") == {NODE1_IP, NODE2_IP}, what="both nodes healthy")
    seen = [await connect_identify("127.240.0.20", 80) for _ in range(8)]
    assert set(seen) == {"pod-a", "pod-b"}
    per_node = {t.ip: t.stats.connections for t in picker(lb, "127.240.0.20").targets}
    assert per_node == {NODE1_IP: 4, NODE2_IP: 4}  # round robin over the nodes
    st = lb.status()
    assert st["frontends"][0]["frontend"] == "TCP 127.240.0.20:80" and st["frontends"][0]["policy"] == "Cluster"


async def test_cloudlb_skips_a_node_whose_health_check_fails(env):  # type: ignore[no-untyped-def]
    """ETP Local: node2 has no local endpoint, so its healthCheckNodePort answers 503 and the
    LB sends nothing there (node2 has no nodePort listener either: a connect would be refused)."""
    (b1,) = await env.backends(["pod-on-node1"])
    await lb_service(env, "local", "127.240.0.21", [b1], [(b1.ip, "node1")], externalTrafficPolicy="Local")
    await env.agent("node1", NODE1_IP)
    await env.agent("node2", NODE2_IP, bind_cluster_ips=False)
    lb = await env.lb()
    await wait_for(lambda: healthy_nodes(lb, "127.240.0.21") == {NODE1_IP}, what="node1 healthy")
    await asyncio.sleep(0.3)  # several check rounds: node2 stays out
    assert healthy_nodes(lb, "127.240.0.21") == {NODE1_IP}
    for _ in range(6):
        assert await connect_identify("127.240.0.21", 80) == "pod-on-node1"
    node2 = [t for t in picker(lb, "127.240.0.21").targets if t.ip == NODE2_IP][0]
    assert node2.stats.connections == 0 and node2.stats.connect_failures == 0
    health = lb.status()["health"]
    hc = [k for k in health if k.startswith(f"http://{NODE2_IP}:")][0]
    assert health[hc]["healthy"] is False and health[hc]["last"] == "HTTP 503"


async def test_cloudlb_stops_sending_to_a_node_whose_proxy_dies(env):  # type: ignore[no-untyped-def]
    b1, b2 = await env.backends(["pod-a", "pod-b"])
    await lb_service(env, "web", "127.240.0.22", [b1, b2], [(b1.ip, "node1"), (b2.ip, "node2")])
    await env.agent("node1", NODE1_IP)
    n2 = await env.agent("node2", NODE2_IP, bind_cluster_ips=False)
    lb = await env.lb(fall=1)
    await wait_for(lambda: healthy_nodes(lb, "127.240.0.22") == {NODE1_IP, NODE2_IP}, what="both nodes healthy")
    await n2.stop()
    await wait_for(lambda: healthy_nodes(lb, "127.240.0.22") == {NODE1_IP}, what="node2 to fail its check")
    node2 = [t for t in picker(lb, "127.240.0.22").targets if t.ip == NODE2_IP][0]
    before = node2.stats.connections + node2.stats.connect_failures
    assert {await connect_identify("127.240.0.22", 80) for _ in range(6)} == {"pod-a", "pod-b"}
    assert node2.stats.connections + node2.stats.connect_failures == before


async def test_cloudlb_udp(env):  # type: ignore[no-untyped-def]
    (u,) = await env.backends(["udp-pod"], udp=True)
    await lb_service(env, "dns", "127.240.0.23", [u], [(u.ip, "node1")], proto="UDP")
    await env.agent("node1", NODE1_IP)
    lb = await env.lb()
    await wait_for(lambda: NODE1_IP in {t.ip for t in lb.pickers[("UDP", "127.240.0.23", 80)].healthy_targets()}, what="node1 healthy")
    assert await udp_ask("127.240.0.23", 80, b"q") == b"udp-pod:q"


def test_cloudlb_plan_frontends_rules():
    nodes = [
        {"metadata": {"name": "n1"}, "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}},
        {"metadata": {"name": "n2", "labels": {"node.kubernetes.io/exclude-from-external-load-balancers": ""}},
         "status": {"addresses": [{"type": "InternalIP", "address": "127.0.1.2"}]}},
        {"metadata": {"name": "n3"}, "status": {"addresses": [{"type": "ExternalIP", "address": "127.0.1.3"}]}},
        {"metadata": {"name": "n4"}, "status": {}},
    ]
    ingress = {"loadBalancer": {"ingress": [{"ip": "127.240.0.5", "ipMode": "VIP"}, {"ip": "127.240.0.6", "ipMode": "Proxy"}]}}
    services = [
        {"metadata": {"namespace": "ns", "name": "a"}, "status": ingress,
         "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "healthCheckNodePort": 32000,
                  "loadBalancerSourceRanges": ["127.1.0.0/16"],
                  "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080},
                            {"name": "sctp", "port": 81, "protocol": "SCTP", "nodePort": 30081},
                            {"name": "none", "port": 82, "protocol": "TCP"}]}},
        {"metadata": {"namespace": "ns", "name": "b"}, "status": ingress,
         "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP", "nodePort": 30090},
                                                     {"port": 80, "protocol": "UDP", "nodePort": 30090}]}},
        {"metadata": {"namespace": "ns", "name": "c"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30100}]}},
    ]
    fronts, skipped = plan_frontends(services, nodes, healthz_port=10256)
    assert set(fronts) == {("TCP", "127.240.0.5", 80), ("UDP", "127.240.0.5", 80)}
    a = fronts[("TCP", "127.240.0.5", 80)]
    assert (a.service, a.node_port, a.local, a.source_ranges) == ("ns/a:http", 30080, True, ("127.1.0.0/16",))
    assert [(t.node, t.ip, t.health) for t in a.targets] == [
        ("n1", "127.0.0.1", ("127.0.0.1", 32000, "/")),
        ("n3", "127.0.1.3", ("127.0.1.3", 32000, "/")),
    ]
    udp = fronts[("UDP", "127.240.0.5", 80)]
    assert udp.service == "ns/b" and udp.targets[0].health == ("127.0.0.1", 10256, "/healthz")
    assert skipped == [
        "SCTP 127.240.0.5:81 (ns/a:sctp): protocol SCTP is not supported",
        "TCP 127.240.0.5:82 (ns/a:none): no nodePort",
        "TCP 127.240.0.5:80 (ns/b): already used by ns/a:http",
    ]
