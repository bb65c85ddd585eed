"""Node object and status: pure builders and registration through the API."""

import asyncio
import contextlib

from svcnet.client.inprocess import local_client
from svcnet.kubelet.node import NodeRegistration, node_object, node_status


def conds(status):
    return {c["type"]: c for c in status["conditions"]}


def test_node_object_labels_and_cidr():
    n = node_object("node-1", "127.244.1.0/24", zone="zone-a")
    labels = n["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "node-1" and labels["kubernetes.io/os"] == "linux"
    assert labels["topology.kubernetes.io/zone"] == "zone-a"
    assert n["spec"] == {"podCIDR": "127.244.1.0/24", "podCIDRs": ["127.244.1.0/24"]}
    assert "topology.kubernetes.io/zone" not in node_object("n", "127.244.1.0/24")["metadata"]["labels"]


def test_node_status_ready_and_transition_times():
    s1 = node_status("node-1", "127.0.0.1", pods=253, ready=True, old=None, now=100)
    assert s1["addresses"] == [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": "node-1"}]
    c = conds(s1)
    assert c["Ready"]["status"] == "True" and c["Ready"]["reason"] == "KubeletReady"
    assert c["MemoryPressure"]["status"] == "False" and s1["capacity"]["pods"] == "253"
    s2 = node_status("node-1", "127.0.0.1", pods=253, ready=True, old={"status": s1}, now=200)
    assert conds(s2)["Ready"]["lastTransitionTime"] == c["Ready"]["lastTransitionTime"]
    assert conds(s2)["Ready"]["lastHeartbeatTime"] != c["Ready"]["lastHeartbeatTime"]
    s3 = node_status("node-1", "127.0.0.1", pods=253, ready=False, old={"status": s2}, now=300)
    assert conds(s3)["Ready"]["status"] == "Unknown" and conds(s3)["Ready"]["reason"] == "NodeStatusUnknown"
    assert conds(s3)["Ready"]["lastTransitionTime"] == "1970-01-01T00:05:00Z"


async def test_register_creates_then_adopts():
    client = local_client()
    reg = NodeRegistration(client, "node-1", "127.0.0.1", "127.244.1.0/24", pods=253, zone="z1")
    await reg.register()
    n = await client.get("nodes", "node-1")
    assert n["spec"]["podCIDR"] == "127.244.1.0/24"
    assert conds(n["status"])["Ready"]["status"] == "True"
    # a restarted agent adopts the existing Node, keeping foreign labels
    n["metadata"]["labels"]["team"] = "blue"
    await client.update("nodes", n)
    await NodeRegistration(client, "node-1", "127.0.0.1", "127.244.1.0/24", pods=253).register()
    n2 = await client.get("nodes", "node-1")
    assert n2["metadata"]["labels"]["team"] == "blue" and n2["metadata"]["labels"]["kubernetes.io/hostname"] == "node-1"
    await reg.post_status(ready=False)
    assert conds((await client.get("nodes", "node-1"))["status"])["Ready"]["status"] == "Unknown"


async def test_heartbeat_renews_with_injected_clock():
    client = local_client()
    now = [1000.0]
    reg = NodeRegistration(client, "node-1", "127.0.0.1", "127.244.1.0/24", pods=253, clock=lambda: now[0])
    await reg.register()
    first = conds((await client.get("nodes", "node-1"))["status"])["Ready"]
    now[0] += 10
    task = asyncio.ensure_future(reg.heartbeat(0.01))
    try:
        for _ in range(200):
            ready = conds((await client.get("nodes", "node-1"))["status"])["Ready"]
            if ready["lastHeartbeatTime"] != first["lastHeartbeatTime"]:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert ready["lastHeartbeatTime"] == "1970-01-01T00:16:50Z"
    assert ready["lastTransitionTime"] == first["lastTransitionTime"]
