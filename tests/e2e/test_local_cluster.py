"""The embedded default end to end: a LocalCluster (control plane, controllers, 2 node agents,
DNS, cloud LB) running the example app, reached through every kind of Service address.

These tests share fixed addresses (NodePort 30080 from the example, the node proxies' health
port 10256), so they must not run at the same time: ``scripts/test`` distributes tests by file
(``--dist loadfile``), which keeps them on one worker, in order.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from svcnet.api.manifest import load_manifests
from svcnet.api.resources import by_kind
from svcnet.controlplane import ControlPlaneConfig
from svcnet.demo import http_get
from svcnet.localcluster import LocalCluster, LocalClusterConfig, node_ip

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "svcnet" / "examples"


async def _until(pred, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = await pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def _start(tmp_path: Path) -> LocalCluster:
    cluster = LocalCluster(
        LocalClusterConfig(
            control_plane=ControlPlaneConfig(state="memory:", api_port=0, kubeconfig=str(tmp_path / "kubeconfig")),
            nodes=2,
            dns_port=0,
            metrics_port_base=0,
        )
    )
    await cluster.start()
    assert await cluster.wait_ready(30), "nodes did not become Ready"
    return cluster


async def _apply(cluster: LocalCluster, name: str) -> None:
    path = EXAMPLES / name
    for obj in load_manifests(path.read_text(), str(path)):
        await cluster.client.create(by_kind(obj["apiVersion"], obj["kind"]), obj, "default")


async def _ready_endpoints(cluster: LocalCluster, svc: str) -> list[dict]:
    slices = (await cluster.client.list("endpointslices", "default", label_selector=f"kubernetes.io/service-name={svc}"))["items"]
    return [e for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")]


async def _addresses(cluster: LocalCluster) -> dict[str, tuple[str, int]]:
    c = cluster.client
    cip = (await c.get("services", "echo"))["spec"]["clusterIP"]

    async def lb() -> str | None:
        ing = ((await c.get("services", "echo-lb")).get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        return ing[0]["ip"] if ing else None

    lb_ip = await _until(lb, what="a LoadBalancer IP")
    return {
        "clusterip": (cip, 8080),
        "nodeport-node1": (node_ip(1), 30080),
        "nodeport-node2": (node_ip(2), 30080),
        "loadbalancer": (lb_ip, 8080),
    }


async def test_local_cluster_reaches_pods_through_every_service_address(tmp_path):
    cluster = await _start(tmp_path)
    try:
        await _apply(cluster, "echo-app.yaml")
        await _apply(cluster, "headless.yaml")

        async def three() -> bool:
            return len(await _ready_endpoints(cluster, "echo")) == 3

        await _until(three, what="3 ready echo endpoints")
        pods = {p["metadata"]["name"]: p for p in (await cluster.client.list("pods", "default"))["items"]}
        node_of = {name: p["spec"]["nodeName"] for name, p in pods.items()}
        assert set(node_of.values()) == {"node1", "node2"}, "the scheduler spreads 3 pods over both nodes"
        addrs = await _addresses(cluster)
        for label, (host, port) in addrs.items():
            seen = {(await http_get(host, port))["pod"] for _ in range(6)}
            # round robin over the 3 endpoints: 6 requests meet all of them, whichever node
            # they run on (node2's NodePort reaches node1's pods and the other way round)
            assert seen == set(node_of), label
        # ExternalName and headless Services get no listener on any node
        for px in cluster.proxies:
            listeners = px.status()["listeners"]
            names = {spn for spn in (l.get("service") or "" for l in listeners)}
            assert not any(n.startswith("default/docs") or n.startswith("default/echo-headless") for n in names), names
            assert any(n.startswith("default/echo") for n in names)
    finally:
        await cluster.stop()


async def test_local_cluster_1000_requests_while_pods_are_replaced(tmp_path):
    cluster = await _start(tmp_path)
    try:
        await _apply(cluster, "echo-app.yaml")

        async def three() -> bool:
            return len(await _ready_endpoints(cluster, "echo")) == 3

        await _until(three, what="3 ready echo endpoints")
        host, port = (await _addresses(cluster))["clusterip"]
        original = {p["metadata"]["name"] for p in (await cluster.client.list("pods", "default"))["items"]}
        failures: list[str] = []
        answered: set[str] = set()
        stop = asyncio.Event()

        async def chaos() -> int:
            """Delete a pod every half second, but only while all 3 replicas are ready (pods
            are replaced, not all killed at once, as a rolling disruption would)."""
            deleted = 0
            while not stop.is_set():
                await asyncio.sleep(0.5)
                if len(await _ready_endpoints(cluster, "echo")) < 3:
                    continue
                live = [p for p in (await cluster.client.list("pods", "default"))["items"] if not p["metadata"].get("deletionTimestamp")]
                if live:
                    await cluster.client.delete("pods", live[0]["metadata"]["name"], "default")
                    deleted += 1
            return deleted

        task = asyncio.create_task(chaos())
        for _ in range(1000):
            try:
                answered.add((await http_get(host, port))["pod"])
            except Exception as e:
                failures.append(f"{type(e).__name__}: {e}")
            await asyncio.sleep(0.005)  # spread the requests over several replacements
        stop.set()
        deleted = await task
        assert failures == []
        assert deleted >= 2, "pods were deleted while the requests ran"
        assert answered - original, "replacement pods (new names) served requests"
    finally:
        await cluster.stop()


def test_svcnet_demo_once_exits_0():
    env = dict(os.environ)
    proc = subprocess.run(
        [sys.executable, "-m", "svcnet.cli.main", "demo", "--once", "--duration", "8", "--kill-every", "2"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " 0 failed" in proc.stdout


def test_a_second_local_cluster_is_refused_with_one_clear_line():
    """Another local cluster holds node1's health port: demo says so and exits 1 at once,
    instead of running beside it with NodePorts it cannot bind."""
    import socket

    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.1", 10256))
        other.listen()
        proc = subprocess.run(
            [sys.executable, "-m", "svcnet.cli.main", "demo", "--once", "--duration", "5"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.startswith("error: ") and "127.0.0.1:10256" in proc.stderr and "another svcnet up or svcnet demo" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_svcnet_up_serves_until_ctrl_c_and_keeps_state(tmp_path):
    """The real command: banner, a client command against it, Ctrl-C stops it cleanly, and the
    state file carries a Service across a restart."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        api_port = s.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    cmd = [sys.executable, "-m", "svcnet.cli.main", "up", "--state", str(tmp_path / "state.db"), "--api-port", str(api_port), "--dns-port", "0", "--kubeconfig", str(kubeconfig)]

    def start() -> subprocess.Popen:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl-C to stop." in line:
                return p
        p.kill()
        raise AssertionError("svcnet up did not come up:\n" + "".join(lines))

    def svcnet(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "svcnet.cli.main", *args, "--kubeconfig", str(kubeconfig)], capture_output=True, text=True, timeout=60)

    p = start()
    try:
        manifest = tmp_path / "svc.yaml"
        manifest.write_text(json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "keep"}, "spec": {"selector": {"app": "x"}, "ports": [{"port": 8080}]}}))
        r = svcnet("apply", "-f", str(manifest))
        assert r.returncode == 0 and "service/keep created" in r.stdout, r.stdout + r.stderr
    finally:
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=60)
    assert p.returncode == 0, out
    p = start()
    try:
        r = svcnet("get", "svc", "keep")
        assert r.returncode == 0 and r.stdout.splitlines()[1].startswith("keep "), r.stdout + r.stderr
    finally:
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=60)
    assert p.returncode == 0
