"""The userspace data plane end to end: NodeProxy agents over an in-process API server,
selectorless Services + EndpointSlices, real backends on loopback pod IPs, real clients.

Runs on uvloop, the loop the node agent uses in production.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import struct
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from svcnet.proxy.agent import NodeProxy
from svcnet.proxy.schedulers import VirtualService
from svcnet.proxy.userspace.plan import NodeConfig
from svcnet.proxy.userspace import relay
from svcnet.proxy.userspace.proxier import UserspaceProxier
from svcnet.proxy.userspace.tcp import TcpOptions

from proxytest import (
    Backend,
    connect_identify,
    free_port,
    make_client,
    make_node,
    make_service,
    make_slice,
    pod_ip,
    set_lb_ingress,
    start_backends,
    udp_ask,
    update_slice,
    wait_for,
)

NODE1_IP = "127.0.0.1"
NODE2_IP = "127.0.1.2"

#: the TCP relays, for tests of the byte stream: both must behave the same (``relay.py``)
ENGINES = [
    "python",
    pytest.param("c", marks=pytest.mark.skipif(
        not relay.AVAILABLE and not os.environ.get("SVCNET_REQUIRE_C_RELAY"),
        reason=f"the compiled relay was not built (no C compiler or Python headers): {relay.UNAVAILABLE_REASON}",
    )),
]
#: parametrize a test's ``cluster`` over both relays
both_engines = pytest.mark.parametrize("cluster", ENGINES, indirect=True)


@pytest.fixture
async def cluster(request):  # type: ignore[no-untyped-def]
    """A client, two nodes, and a factory for node agents (stopped at teardown). Agents relay
    TCP with the engine the test is parametrized with ("auto" when it is not)."""
    engine = getattr(request, "param", "auto")
    client = make_client()
    await make_node(client, "node1", NODE1_IP)
    await make_node(client, "node2", NODE2_IP)
    agents: list[NodeProxy] = []
    backends: list = []

    async def agent(node="node1", ip=NODE1_IP, **kw) -> NodeProxy:  # type: ignore[no-untyped-def]
        kw.setdefault("metrics_addr", "127.0.0.1:0")
        kw.setdefault("healthz_addr", f"{ip}:0")
        kw.setdefault("tcp_options", TcpOptions(engine=engine))
        np = NodeProxy(client, node_name=node, node_ips=[ip], **kw)
        agents.append(np)
        await np.start(timeout=5)
        return np

    async def backends_(names, udp=False):  # type: ignore[no-untyped-def]
        bs = await start_backends(names, udp=udp)
        backends.extend(bs)
        return bs

    class C:
        pass

    c = C()
    c.client, c.agent, c.backends, c.engine = client, agent, backends_, engine
    yield c
    for np in agents:
        await np.stop()
    for b in backends:
        await b.stop()


def tcp_port(name: str, port: int, **kw) -> dict:  # type: ignore[no-untyped-def]
    return {"name": name, "port": port, "protocol": "TCP", **kw}


async def service_with(c, name, backends, *, node="node1", proto="TCP", eps=None, **spec):  # type: ignore[no-untyped-def]
    """A Service on port 80 whose slice points at ``backends`` (all on one node unless ``eps``)."""
    svc = await make_service(c.client, name, [{"name": "p", "port": 80, "protocol": proto}], **spec)
    sl = await make_slice(
        c.client, name, eps if eps is not None else [(b.ip, node) for b in backends],
        [{"name": "p", "port": backends[0].port, "protocol": proto}],
    )
    return svc, sl


def listening(agent: NodeProxy, ip: str, port: int, proto: str = "TCP") -> bool:
    return (proto, ip, port) in agent.proxier.listeners


def lbl(d: dict) -> frozenset:
    return frozenset(d.items())


def metric_samples(text: str) -> dict:
    """{(sample name, frozenset(labels)): value} from Prometheus text."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


async def http_get(ip: str, port: int, path: str = "/") -> tuple[int, dict, bytes]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port), 5)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


# -- service kinds ------------------------------------------------------------------------------


@both_engines
async def test_userspace_clusterip_round_robin_is_exact(cluster):  # type: ignore[no-untyped-def]
    bs = await cluster.backends(["b0", "b1", "b2"])
    svc, _ = await service_with(cluster, "web", bs)
    await cluster.agent()
    ip = svc["spec"]["clusterIP"]
    counts: dict[str, int] = {}
    for _ in range(300):
        who = await connect_identify(ip, 80)
        counts[who] = counts.get(who, 0) + 1
    assert counts == {"b0": 100, "b1": 100, "b2": 100}


async def test_userspace_nodeport_on_every_node_reaches_pods_on_other_nodes(cluster):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["on-node2"])
    svc, _ = await service_with(cluster, "np", [b], node="node2", type="NodePort")
    n1 = await cluster.agent("node1", NODE1_IP)
    n2 = await cluster.agent("node2", NODE2_IP, bind_cluster_ips=False)
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert await connect_identify(NODE1_IP, node_port) == "on-node2"
    assert await connect_identify(NODE2_IP, node_port) == "on-node2"
    assert await connect_identify(svc["spec"]["clusterIP"], 80) == "on-node2"
    assert not listening(n2, svc["spec"]["clusterIP"], 80)
    assert {k for k in n1.proxier.listeners if k[2] == node_port} == {("TCP", NODE1_IP, node_port)}
    assert {k for k in n2.proxier.listeners if k[2] == node_port} == {("TCP", NODE2_IP, node_port)}


async def test_userspace_external_ip(cluster):  # type: ignore[no-untyped-def]
    """The API rejects loopback externalIPs (upstream validation), so the Service object is
    fed to the proxier directly, as its informer would deliver it."""
    (b,) = await cluster.backends(["ext"])
    proxier = UserspaceProxier(NodeConfig(node_name="node1", node_ips=(NODE1_IP,)))
    svc = {
        "metadata": {"namespace": "default", "name": "ext"},
        "spec": {"type": "ClusterIP", "clusterIP": "127.96.200.7", "clusterIPs": ["127.96.200.7"],
                 "externalIPs": ["127.100.0.7"], "ports": [tcp_port("p", 80)]},
    }
    slice_ = {
        "metadata": {"namespace": "default", "name": "ext-1", "labels": {"kubernetes.io/service-name": "ext"}},
        "addressType": "IPv4", "ports": [tcp_port("p", b.port)],
        "endpoints": [{"addresses": [b.ip], "conditions": {"ready": True}, "nodeName": "node1"}],
    }
    assert proxier.on_service(None, svc) and proxier.on_endpoint_slice(slice_)
    await proxier.sync()
    try:
        kinds = {lis["ip"]: lis["kind"] for lis in proxier.status()["listeners"]}
        assert kinds == {"127.100.0.7": "ExternalIP", "127.96.200.7": "ClusterIP"}
        assert await connect_identify("127.100.0.7", 80) == "ext"
        assert await connect_identify("127.96.200.7", 80) == "ext"
    finally:
        await proxier.close()


async def test_userspace_loadbalancer_ip_standalone(cluster):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["lb"])
    svc, _ = await service_with(cluster, "lb", [b], type="LoadBalancer")
    await set_lb_ingress(cluster.client, svc, ["127.240.0.9"])
    n1 = await cluster.agent()
    await wait_for(lambda: listening(n1, "127.240.0.9", 80), what="LB listener")
    assert await connect_identify("127.240.0.9", 80) == "lb"


async def test_userspace_loadbalancer_ip_left_to_cloud_lb(cluster):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["lb"])
    svc, _ = await service_with(cluster, "lb", [b], type="LoadBalancer")
    await set_lb_ingress(cluster.client, svc, ["127.240.0.10"])
    n1 = await cluster.agent(bind_lb_ips=False)
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert listening(n1, NODE1_IP, node_port)
    assert not any(k[1] == "127.240.0.10" for k in n1.proxier.listeners)


async def test_userspace_externalname_and_headless_get_no_listener(cluster):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["h"])
    await make_service(cluster.client, "headless", [tcp_port("p", 80)], clusterIP="None")
    await make_slice(cluster.client, "headless", [(b.ip, "node1")], [tcp_port("p", b.port)])
    await make_service(cluster.client, "extname", [tcp_port("p", 80)], type="ExternalName", externalName="example.com")
    await make_slice(cluster.client, "extname", [(b.ip, "node1")], [tcp_port("p", b.port)])
    n1 = await cluster.agent()
    names = {str(s.service) for s in n1.proxier.specs.values()}
    assert not any("headless" in n or "extname" in n for n in names)
    assert not any("headless" in s["service"] or "extname" in s["service"] for s in n1.status()["skipped"])


# -- schedulers ---------------------------------------------------------------------------------


def balancer_of(agent: NodeProxy, name: str):  # type: ignore[no-untyped-def]
    (b,) = [b for k, b in agent.proxier.balancers.items() if k[0].name == name]
    return b


@pytest.mark.parametrize("sched, flags", [("rr", ""), ("lc", ""), ("sed", ""), ("nq", ""), ("dh", ""), ("sh", "sh-port"), ("mh", "mh-port")])
async def test_userspace_scheduler_sequence_matches_kernel_model(cluster, sched, flags):  # type: ignore[no-untyped-def]
    """The endpoint each connection reaches through the proxy is the dest the kernel's
    scheduler would pick for the same client, dests and open-connection counts."""
    bs = await cluster.backends(["b0", "b1", "b2"])
    ann = {"svcnet.io/scheduler": sched, "svcnet.io/scheduler-flags": flags}
    svc, _ = await service_with(cluster, "sched", bs, annotations=ann)
    n1 = await cluster.agent()
    vip = svc["spec"]["clusterIP"]
    by_ip = {b.ip: b.name for b in bs}
    model = VirtualService(vip, 0, "TCP", sched, flags=flags)
    model.sync_dests({(b.ip, b.port): 1 for b in sorted(bs, key=lambda b: f"{b.ip}:{b.port}")})
    bal = balancer_of(n1, "sched")
    got, want, held = [], [], []
    for i in range(15):
        src = f"127.1.0.{i % 4 + 1}"
        who, (_, w) = await connect_identify(vip, 80, source=src, keep=True)
        port = w.get_extra_info("sockname")[1]
        d = model.schedule(src, port, dst_addr=vip)
        held.append((w, model.conn_opened(d, "TCP")))
        got.append(who)
        want.append(by_ip[d.addr])
        if i % 5 == 4:  # close the oldest one: counts go down too
            w_old, conn = held.pop(0)
            w_old.close()
            model.conn_closed(conn)
            await wait_for(lambda: bal.stats.active == len(held), what="the proxy to see the close")
    for w, _ in held:
        w.close()
    assert got == want


# -- affinity, UDP ------------------------------------------------------------------------------


@both_engines
@pytest.mark.slow
async def test_userspace_client_ip_affinity_sticks_then_rebalances(cluster):  # type: ignore[no-untyped-def]
    bs = await cluster.backends(["b0", "b1", "b2"])
    svc, _ = await service_with(
        cluster, "sticky", bs, sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 1}}
    )
    n1 = await cluster.agent()
    vip = svc["spec"]["clusterIP"]
    seen = {await connect_identify(vip, 80, source="127.1.0.7") for _ in range(100)}
    assert len(seen) == 1
    other = await connect_identify(vip, 80, source="127.1.0.8")
    assert other not in seen  # another client is balanced (rr moved on once)
    bal = balancer_of(n1, "sticky")
    await wait_for(lambda: bal.stats.active == 0, what="connections to close")
    await asyncio.sleep(1.3)  # idle longer than timeoutSeconds
    again = await connect_identify(vip, 80, source="127.1.0.7")
    assert again not in seen


@pytest.mark.slow
async def test_userspace_udp_echo_affinity_and_idle_timeout(cluster):  # type: ignore[no-untyped-def]
    bs = await cluster.backends(["u0", "u1"], udp=True)
    svc, _ = await service_with(
        cluster, "dns", bs, proto="UDP", sessionAffinity="ClientIP", sessionAffinityConfig={"clientIP": {"timeoutSeconds": 1}}
    )
    n1 = await cluster.agent(udp_idle_timeout=0.3)
    vip = svc["spec"]["clusterIP"]
    lis = n1.proxier.listeners[("UDP", vip, 80)]
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.1.0.9", 0))
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.bind(("127.1.0.9", 0))
    try:
        first = (await udp_ask(vip, 80, b"hello", sock=a)).decode()
        name = first.split(":")[0]
        assert first == f"{name}:hello"
        assert (await udp_ask(vip, 80, b"again", sock=a)).decode() == f"{name}:again"
        assert len(lis.sessions) == 1
        # another port of the same client IP: a new session, same endpoint (affinity)
        assert (await udp_ask(vip, 80, b"b", sock=b)).decode() == f"{name}:b"
        assert len(lis.sessions) == 2
        await wait_for(lambda: not lis.sessions, timeout=3, what="UDP sessions to go idle")
        await asyncio.sleep(1.2)  # and the affinity to expire
        other = (await udp_ask(vip, 80, b"later", sock=a)).decode()
        assert other.split(":")[0] != name
        st = balancer_of(n1, "dns").stats
        assert st.packets_in == 4 and st.packets_out == 4 and st.connections == 3
    finally:
        a.close()
        b.close()


# -- no endpoints, retry, draining ---------------------------------------------------------------


async def test_userspace_no_endpoints_refuses_at_once_then_listener_appears(cluster):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["late"])
    svc = await make_service(cluster.client, "empty", [tcp_port("p", 80)])
    n1 = await cluster.agent()
    vip = svc["spec"]["clusterIP"]
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(asyncio.open_connection(vip, 80), 2)
    assert {"service": "default/empty:p", "protocol": "TCP", "ip": vip, "port": 80, "kind": "ClusterIP", "reason": "no endpoints"} in n1.status()["skipped"]
    await make_slice(cluster.client, "empty", [(b.ip, "node1")], [tcp_port("p", b.port)])
    await wait_for(lambda: listening(n1, vip, 80), what="the listener to appear")
    assert await connect_identify(vip, 80) == "late"


@both_engines
async def test_userspace_retry_reaches_the_live_endpoint(cluster):  # type: ignore[no-untyped-def]
    (alive,) = await cluster.backends(["alive"])
    dead_ip = pod_ip()  # nobody listens there: ECONNREFUSED
    svc, _ = await service_with(cluster, "retry", [alive], eps=[(alive.ip, "node1"), (dead_ip, "node1")])
    n1 = await cluster.agent()
    vip = svc["spec"]["clusterIP"]
    for _ in range(20):
        assert await connect_identify(vip, 80) == "alive"
    st = balancer_of(n1, "retry").stats
    # rr moves on at every pick, retries included: after the first connection every one
    # tries the dead endpoint first, then the live one
    assert st.connections == 20 and st.retries == st.connect_failures >= 19
    dead = [t for t in balancer_of(n1, "retry").targets if t.ip == dead_ip][0]
    assert dead.stats.connect_failures == st.connect_failures and dead.stats.connections == 0


@both_engines
async def test_userspace_all_endpoints_dead_resets_the_client(cluster):  # type: ignore[no-untyped-def]
    port = free_port()
    svc = await make_service(cluster.client, "dead", [tcp_port("p", 80)])
    await make_slice(cluster.client, "dead", [(pod_ip(), "node1"), (pod_ip(), "node1")], [tcp_port("p", port)])
    n1 = await cluster.agent()
    reader, writer = await asyncio.open_connection(svc["spec"]["clusterIP"], 80)
    with pytest.raises(ConnectionResetError):
        data = await asyncio.wait_for(reader.read(100), 5)
        assert data == b""  # pragma: no cover - an RST, not a FIN, is expected
        raise AssertionError("closed with FIN")  # pragma: no cover
    writer.close()
    st = balancer_of(n1, "dead").stats
    assert st.connect_failures == 2 and st.retries == 1 and st.connections == 0


@both_engines
async def test_userspace_draining_keeps_open_connections(cluster):  # type: ignore[no-untyped-def]
    b0, b1 = await cluster.backends(["b0", "b1"])
    svc, sl = await service_with(cluster, "drain", [b0, b1])
    n1 = await cluster.agent()
    vip = svc["spec"]["clusterIP"]
    held = {}
    for _ in range(2):
        who, (r, w) = await connect_identify(vip, 80, keep=True)
        held[who] = (r, w)
    await update_slice(cluster.client, sl, [(b1.ip, "node1")])
    bal = balancer_of(n1, "drain")
    await wait_for(lambda: [t.ip for t in bal.active_targets] == [b1.ip], what="b0 to be removed")
    r, w = held["b0"]
    w.write(b"still there\n")
    assert await asyncio.wait_for(r.readline(), 5) == b"still there\n"
    for _ in range(5):
        assert await connect_identify(vip, 80) == "b1"
    w.close()
    await wait_for(lambda: b0.ip not in [t.ip for t in bal.targets], what="b0 to drain out")
    held["b1"][1].close()


@both_engines
async def test_userspace_deleted_service_keeps_open_connections(cluster):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["gone"])
    svc, _ = await service_with(cluster, "gone", [b])
    n1 = await cluster.agent()
    vip = svc["spec"]["clusterIP"]
    _, (r, w) = await connect_identify(vip, 80, keep=True)
    await cluster.client.delete("services", "gone", "default")
    await wait_for(lambda: not listening(n1, vip, 80), what="the listener to close")
    with pytest.raises(ConnectionRefusedError):
        await asyncio.wait_for(asyncio.open_connection(vip, 80), 2)
    w.write(b"ping\n")
    assert await asyncio.wait_for(r.readline(), 5) == b"ping\n"
    w.write_eof()
    assert await asyncio.wait_for(r.read(), 5) == b""
    w.close()


# -- traffic policies, terminating endpoints ------------------------------------------------------


async def test_userspace_external_traffic_policy_local(cluster):  # type: ignore[no-untyped-def]
    b1, b2 = await cluster.backends(["pod-on-node1", "pod-on-node2"])
    svc, _ = await service_with(cluster, "etp", [b1, b2], eps=[(b1.ip, "node1"), (b2.ip, "node2")],
                                type="NodePort", externalTrafficPolicy="Local")
    await cluster.agent("node1", NODE1_IP)
    await cluster.agent("node2", NODE2_IP, bind_cluster_ips=False)
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert {await connect_identify(NODE1_IP, node_port) for _ in range(6)} == {"pod-on-node1"}
    assert {await connect_identify(NODE2_IP, node_port) for _ in range(6)} == {"pod-on-node2"}
    assert {await connect_identify(svc["spec"]["clusterIP"], 80) for _ in range(6)} == {"pod-on-node1", "pod-on-node2"}


async def test_userspace_internal_traffic_policy_local(cluster):  # type: ignore[no-untyped-def]
    b1, b2 = await cluster.backends(["pod-on-node1", "pod-on-node2"])
    svc, _ = await service_with(cluster, "itp", [b1, b2], eps=[(b1.ip, "node1"), (b2.ip, "node2")], internalTrafficPolicy="Local")
    await cluster.agent("node1", NODE1_IP)
    assert {await connect_identify(svc["spec"]["clusterIP"], 80) for _ in range(6)} == {"pod-on-node1"}


async def test_userspace_terminating_endpoint_only_as_fallback(cluster):  # type: ignore[no-untyped-def]
    ready, term = await cluster.backends(["ready", "terminating"])
    t = {"ip": term.ip, "node": "node1", "ready": False, "serving": True, "terminating": True}
    svc, sl = await service_with(cluster, "term", [ready, term], eps=[(ready.ip, "node1"), t])
    n1 = await cluster.agent()
    vip = svc["spec"]["clusterIP"]
    assert {await connect_identify(vip, 80) for _ in range(6)} == {"ready"}
    await update_slice(cluster.client, sl, [{"ip": ready.ip, "node": "node1", "ready": False, "serving": False, "terminating": True}, t])
    bal = balancer_of(n1, "term")
    await wait_for(lambda: [x.ip for x in bal.active_targets] == [term.ip], what="the fallback")
    assert {await connect_identify(vip, 80) for _ in range(4)} == {"terminating"}


# -- metrics, health ------------------------------------------------------------------------------


@both_engines
async def test_userspace_metrics_count_connections_bytes_and_failures(cluster):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["m"])
    dead = pod_ip()
    svc, _ = await service_with(cluster, "metrics", [b], eps=[(b.ip, "node1"), (dead, "node1")])
    n1 = await cluster.agent()
    vip = svc["spec"]["clusterIP"]
    _, (r, w) = await connect_identify(vip, 80, keep=True)
    w.write(b"x" * 1000)
    await w.drain()
    assert len(await asyncio.wait_for(r.readexactly(1000), 5)) == 1000
    host, port = n1.metrics_address.split(":")
    status, headers, body = await http_get(host, int(port), "/metrics")
    m = metric_samples(body.decode())
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    svc_l = {"service": "default/metrics:p", "protocol": "TCP"}
    ep_l = {**svc_l, "endpoint": f"{b.ip}:{b.port}"}
    dead_l = {**svc_l, "endpoint": f"{dead}:{b.port}"}
    assert m["svcnet_proxy_connections_total", lbl(svc_l)] == 1
    assert m["svcnet_proxy_active_connections", lbl(svc_l)] == 1
    assert m["svcnet_proxy_bytes_in_total", lbl(svc_l)] == 1000
    assert m["svcnet_proxy_bytes_out_total", lbl(svc_l)] == 1000 + len("m\n")
    assert m["svcnet_proxy_endpoint_connections_total", lbl(ep_l)] == 1
    assert m["svcnet_proxy_endpoint_bytes_in_total", lbl(ep_l)] == 1000
    failures = m["svcnet_proxy_connect_failures_total", lbl(svc_l)]
    assert failures in (0, 1) and m["svcnet_proxy_endpoint_connect_failures_total", lbl(dead_l)] == failures
    assert m["svcnet_proxy_retries_total", lbl(svc_l)] == failures
    assert m["svcnet_proxy_sync_total", lbl({})] >= 1
    assert m["svcnet_proxy_listeners", lbl({})] == 1
    assert ("svcnet_proxy_sync_duration_seconds_count", lbl({})) in m
    w.close()
    assert (await http_get(host, int(port), "/nope"))[0] == 404


async def test_userspace_healthz_answers_like_kube_proxy(cluster):  # type: ignore[no-untyped-def]
    n1 = await cluster.agent()
    host, port = n1.healthz_address.split(":")
    status, headers, body = await http_get(host, int(port), "/healthz")
    doc = json.loads(body)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert set(doc) == {"lastUpdated", "currentTime", "nodeEligible"} and doc["nodeEligible"] is True
    assert (await http_get(host, int(port), "/livez"))[0] == 200


async def test_userspace_health_check_node_port(cluster):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["local"])
    svc, _ = await service_with(cluster, "hc", [b], type="LoadBalancer", externalTrafficPolicy="Local")
    hc_port = svc["spec"]["healthCheckNodePort"]
    n1 = await cluster.agent("node1", NODE1_IP, bind_lb_ips=False)
    await cluster.agent("node2", NODE2_IP, bind_cluster_ips=False, bind_lb_ips=False)
    status, headers, body = await http_get(NODE1_IP, hc_port)
    assert status == 200 and headers["X-Load-Balancing-Endpoint-Weight"] == "1"
    assert json.loads(body) == {"service": {"namespace": "default", "name": "hc"}, "localEndpoints": 1, "serviceProxyHealthy": True}
    status, headers, body = await http_get(NODE2_IP, hc_port)
    assert status == 503 and headers["X-Load-Balancing-Endpoint-Weight"] == "0"
    assert json.loads(body)["localEndpoints"] == 0
    assert n1.status()["health_checks"]["default/hc"] == {"port": hc_port, "localEndpoints": 1, "bound": [NODE1_IP]}


async def test_userspace_bind_failure_is_reported_and_retried(cluster):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["x"])
    svc = await make_service(cluster.client, "busy", [tcp_port("p", 80)], type="NodePort")
    node_port = svc["spec"]["ports"][0]["nodePort"]
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind((NODE1_IP, node_port))
    blocker.listen()
    try:
        await make_slice(cluster.client, "busy", [(b.ip, "node1")], [tcp_port("p", b.port)])
        n1 = await cluster.agent(bind_retry_interval=0.1)
        name = f"TCP {NODE1_IP}:{node_port}"
        assert "Address already in use" in n1.status()["bind_errors"][name]
        assert await connect_identify(svc["spec"]["clusterIP"], 80) == "x"  # the other listener works
        host, port = n1.metrics_address.split(":")
        m = metric_samples((await http_get(host, int(port), "/metrics"))[2].decode())
        assert m["svcnet_proxy_listener_bind_failing", lbl({"listener": name})] == 1
        assert m["svcnet_proxy_listener_bind_errors_total", lbl({"listener": name})] >= 1
    finally:
        blocker.close()
    await wait_for(lambda: listening(n1, NODE1_IP, node_port), what="the retry to bind")
    assert n1.status()["bind_errors"] == {}
    assert await connect_identify(NODE1_IP, node_port) == "x"


async def test_userspace_source_ranges_limit_the_lb_vip(cluster):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["lb"])
    svc, _ = await service_with(cluster, "ranged", [b], type="LoadBalancer", loadBalancerSourceRanges=["127.5.0.0/16"])
    await set_lb_ingress(cluster.client, svc, ["127.240.0.11"])
    n1 = await cluster.agent()
    await wait_for(lambda: listening(n1, "127.240.0.11", 80), what="LB listener")
    assert await connect_identify("127.240.0.11", 80, source="127.5.0.1") == "lb"
    with pytest.raises(ConnectionResetError):  # reset at once, maybe before the handshake is seen
        reader, writer = await asyncio.open_connection("127.240.0.11", 80, local_addr=("127.6.0.1", 0))
        await asyncio.wait_for(reader.read(100), 5)
        writer.close()
        raise AssertionError("not reset")  # pragma: no cover
    # the NodePort is not limited (upstream: source ranges apply to the VIP only)
    assert await connect_identify(NODE1_IP, svc["spec"]["ports"][0]["nodePort"], source="127.6.0.1") == "lb"


# -- byte stream ---------------------------------------------------------------------------------


def test_userspace_compiled_relay_is_built_where_the_tests_require_it():  # type: ignore[no-untyped-def]
    """scripts/test sets SVCNET_REQUIRE_C_RELAY when a compiler and Python's headers are there:
    then a missing extension is a failed build, not a reason to skip the C engine's tests."""
    if not os.environ.get("SVCNET_REQUIRE_C_RELAY"):
        pytest.skip("SVCNET_REQUIRE_C_RELAY is not set (scripts/test sets it where the relay can be built)")
    assert relay.AVAILABLE, relay.UNAVAILABLE_REASON


def test_userspace_engine_names():  # type: ignore[no-untyped-def]
    assert relay.engine_name("python") == "python"
    assert relay.engine_name("auto") == ("c" if relay.AVAILABLE else "python")
    with pytest.raises(ValueError, match="unknown TCP relay engine 'fast'"):
        relay.engine_name("fast")


@both_engines
async def test_userspace_session_is_relayed_by_the_engine_asked_for(cluster):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["eng"])
    svc, _ = await service_with(cluster, "eng", [b])
    n1 = await cluster.agent()
    vip = svc["spec"]["clusterIP"]
    assert n1.status()["tcpEngine"] == cluster.engine
    _, (r, w) = await connect_identify(vip, 80, keep=True)
    lis = n1.proxier.listeners[("TCP", vip, 80)]
    (sess,) = lis.sessions
    if cluster.engine == "c":
        assert sess.relay is not None and sess.c2b is None and len(sess.relay) >= 1
    else:
        assert sess.relay is None and sess.c2b is not None
    w.close()
    await wait_for(lambda: not lis.sessions, what="the session to end")


@both_engines
async def test_userspace_half_close_propagates(cluster):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["hc"])
    svc, _ = await service_with(cluster, "half", [b])
    await cluster.agent()
    _, (r, w) = await connect_identify(svc["spec"]["clusterIP"], 80, keep=True)
    w.write(b"abc")
    w.write_eof()  # the backend echoes, sees EOF, answers EOF
    assert await asyncio.wait_for(r.read(), 5) == b"abc"
    w.close()


@both_engines
@pytest.mark.parametrize("splice", ["auto", "always", "never"])
async def test_userspace_bulk_transfer_is_exact(cluster, splice):  # type: ignore[no-untyped-def]
    (b,) = await cluster.backends(["bulk"])
    svc, _ = await service_with(cluster, "bulk", [b])
    n1 = await cluster.agent(tcp_options=TcpOptions(splice=splice, engine=cluster.engine))
    _, (r, w) = await connect_identify(svc["spec"]["clusterIP"], 80, keep=True)
    payload = os.urandom(6 << 20)

    async def send() -> None:
        for i in range(0, len(payload), 1 << 16):
            w.write(payload[i:i + (1 << 16)])
            await w.drain()
        w.write_eof()

    sender = asyncio.ensure_future(send())
    got = await asyncio.wait_for(r.read(-1), 20)
    await sender
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()
    w.close()
    bal = balancer_of(n1, "bulk")
    await wait_for(lambda: bal.stats.active == 0, what="the session to end")
    assert bal.stats.bytes_in == len(payload) and bal.stats.bytes_out == len(payload) + len("bulk\n")


@both_engines
@pytest.mark.parametrize("splice", ["auto", "never"])
async def test_userspace_eof_behind_unread_bytes_is_not_lost(cluster, splice):  # type: ignore[no-untyped-def]
    """The backend sends 4 MiB and closes at once while the client does not read yet: its FIN
    reaches the proxy while the pump is blocked on the client (or with more than one read
    queued before it), and no later event reports it. The client still gets every byte, then
    the EOF. (Backend and client are blocking sockets in threads, off the proxy's loop.)"""
    payload = os.urandom(4 << 20)
    ls = socket.create_server((pod_ip(), 0))
    ls.settimeout(0.2)
    ip, port = ls.getsockname()[:2]
    done = False

    def serve() -> None:
        while not done:
            try:
                c, _ = ls.accept()
            except OSError:  # socket.timeout
                continue
            with c:
                try:
                    c.sendall(payload)
                except OSError:
                    pass

    def fetch(vip: str) -> bytes:
        with socket.create_connection((vip, 80), timeout=5) as s:
            time.sleep(0.3)  # the proxy fills the client's buffers and blocks
            chunks = []
            while chunk := s.recv(1 << 20):  # socket.timeout (5 s) if the EOF never comes
                chunks.append(chunk)
            return b"".join(chunks)

    loop = asyncio.get_running_loop()
    server = loop.run_in_executor(None, serve)
    try:
        svc, _ = await service_with(cluster, "eof", [Backend("eof", ip=ip, port=port)])
        await cluster.agent(tcp_options=TcpOptions(splice=splice, engine=cluster.engine))
        for _ in range(4):
            assert await loop.run_in_executor(None, fetch, svc["spec"]["clusterIP"]) == payload
    finally:
        done = True
        await server
        ls.close()


@both_engines
async def test_userspace_urgent_data_does_not_stall_or_cut_the_stream(cluster):  # type: ignore[no-untyped-def]
    """A read stops at TCP's urgent mark (MSG_OOB), and no new edge comes for what follows it:
    the relay reads on, so the bytes after the mark arrive and the FIN is passed on. The urgent
    byte itself is out of band and not relayed (as HAProxy and upstream's io.Copy)."""
    (b,) = await cluster.backends(["urg"])
    svc, _ = await service_with(cluster, "urg", [b])
    await cluster.agent()

    def exchange(vip: str, fin: bool) -> bytes:
        with socket.create_connection((vip, 80), timeout=5) as s:
            f = s.makefile("rb")
            assert f.readline() == b"urg\n"
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)  # one segment: the proxy sees it all at once
            s.sendall(b"a" * 100 + b"!")
            s.send(b"#", socket.MSG_OOB)
            s.sendall(b"b" * 100)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
            if fin:
                s.shutdown(socket.SHUT_WR)
                return f.read()  # socket.timeout (5 s) if the EOF never comes
            got = b""
            while len(got) < 201:
                chunk = s.recv(4096)  # socket.timeout if the bytes after the mark stall
                assert chunk, got
                got += chunk
            return got

    loop = asyncio.get_running_loop()
    vip = svc["spec"]["clusterIP"]
    assert await loop.run_in_executor(None, exchange, vip, False) == b"a" * 100 + b"!" + b"b" * 100
    assert await loop.run_in_executor(None, exchange, vip, True) == b"a" * 100 + b"!" + b"b" * 100


@both_engines
async def test_userspace_client_reset_ends_a_blocked_session(cluster):  # type: ignore[no-untyped-def]
    """The backend does not read, so client->backend is blocked and nothing reads the client's
    socket; the client then resets. The relay ends the session at once (resetting the
    backend's side) instead of holding both connections until the backend acts."""
    ls = socket.create_server((pod_ip(), 0))
    ls.settimeout(5)
    ip, port = ls.getsockname()[:2]
    svc, _ = await service_with(cluster, "rst", [Backend("rst", ip=ip, port=port)])
    n1 = await cluster.agent()
    vip = svc["spec"]["clusterIP"]
    lis = n1.proxier.listeners[("TCP", vip, 80)]

    def fill_then_reset() -> None:
        with socket.create_connection((vip, 80), timeout=5) as c:
            c.setblocking(False)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # until every buffer on the way is full
                try:
                    c.send(b"x" * 65536)
                except BlockingIOError:
                    time.sleep(0.2)
                    try:
                        c.send(b"x" * 65536)
                    except BlockingIOError:
                        break
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    loop = asyncio.get_running_loop()
    accepted = loop.run_in_executor(None, ls.accept)
    await loop.run_in_executor(None, fill_then_reset)
    conn, _ = await accepted
    try:
        await wait_for(lambda: not lis.sessions, timeout=3, what="the reset session to end")
        conn.settimeout(5)
        with pytest.raises(ConnectionResetError):
            while conn.recv(1 << 20):  # what was relayed before, then the reset
                pass
    finally:
        conn.close()
        ls.close()


@both_engines
async def test_userspace_bytes_sent_just_before_a_reset_reach_the_client(cluster):  # type: ignore[no-untyped-def]
    """A backend answers and resets at once (an HTTP server refusing a body: "413", then an RST
    because request bytes were left unread): the client reads the answer, then the reset --
    as without a proxy."""
    ls = socket.create_server((pod_ip(), 0))
    ls.settimeout(5)
    ip, port = ls.getsockname()[:2]
    svc, _ = await service_with(cluster, "rst413", [Backend("rst413", ip=ip, port=port)])
    await cluster.agent()
    answer = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n"
    accepted, go = threading.Event(), threading.Event()

    def backend() -> None:
        conn, _ = ls.accept()
        with conn:
            conn.recv(10)  # part of the request: the rest stays unread
            accepted.set()
            go.wait(5)
            conn.sendall(answer)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def client(vip: str) -> bytes:
        with socket.create_connection((vip, 80), timeout=5) as c:
            c.sendall(b"POST / HTTP/1.1\r\ncontent-length: 100000\r\n\r\n" + b"x" * 1000)
            got = b""
            try:
                while chunk := c.recv(4096):
                    got += chunk
            except ConnectionResetError:
                return got + b"<reset>"
            return got + b"<eof>"

    loop = asyncio.get_running_loop()
    served = loop.run_in_executor(None, backend)
    try:
        answered = loop.run_in_executor(None, client, svc["spec"]["clusterIP"])
        assert await loop.run_in_executor(None, accepted.wait, 5)
        go.set()
        time.sleep(0.3)  # the proxy's loop (this one) is held: the answer and the RST arrive together
        got = await answered
        await served
    finally:
        ls.close()
    assert got == answer + b"<reset>"


async def test_userspace_udp_refused_endpoint_is_counted_and_rebalanced(cluster):  # type: ignore[no-untyped-def]
    (alive,) = await cluster.backends(["u-alive"], udp=True)
    dead = pod_ip()
    svc, _ = await service_with(cluster, "udp2", [alive], proto="UDP", eps=[(alive.ip, "node1"), (dead, "node1")])
    n1 = await cluster.agent(udp_idle_timeout=5)
    vip = svc["spec"]["clusterIP"]
    answers = []
    for _ in range(4):  # a client whose session lands on the dead endpoint gets no answer...
        try:
            answers.append(await udp_ask(vip, 80, b"x", timeout=0.3))
        except asyncio.TimeoutError:
            answers.append(None)
    assert b"u-alive:x" in answers
    bal = balancer_of(n1, "udp2")
    dead_t = [t for t in bal.targets if t.ip == dead][0]
    # ...and the ICMP port-unreachable it caused is counted, the session dropped
    await wait_for(lambda: dead_t.stats.connect_failures == answers.count(None), what="the refusals to be counted")
    assert dead_t.stats.active == 0


async def test_userspace_healthz_unhealthy_when_a_change_waits_too_long(cluster):  # type: ignore[no-untyped-def]
    n1 = await cluster.agent(health_timeout=0.2)
    host, port = n1.healthz_address.split(":")
    n1.proxier.pending_since = time.monotonic() - 10  # a change stuck for 10 s
    status, _, body = await http_get(host, int(port), "/healthz")
    assert status == 503 and json.loads(body)["nodeEligible"] is True
    n1.proxier.pending_since = None
    assert (await http_get(host, int(port), "/healthz"))[0] == 200
