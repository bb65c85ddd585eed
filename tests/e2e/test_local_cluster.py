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


REPO = Path(__file__).resolve().parents[2]


def _readme_demo_command() -> str:
    """The README's first command (install into .venv, then run the demo)."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    (line,) = [ln for ln in block.splitlines() if ln.strip()]
    assert line.endswith("svcnet demo"), line
    return line


def test_svcnet_demo_once_exits_0_after_the_readme_install(tmp_path):
    """The README's own install command, run in a copy of the source tree (the files git
    tracks or would track) as on a fresh machine (a new venv, ``pip install .``), then
    ``svcnet demo --once`` from that venv."""
    src = tmp_path / "svcnet"
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, check=True).stdout
    for name in tracked.decode().split("\0"):
        if name and (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((REPO / name).read_bytes())
        elif name and (REPO / name).is_symlink():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(REPO / name), src / name)
    cmd = _readme_demo_command() + " --once --duration 8 --kill-every 2"
    proc = subprocess.run(["sh", "-c", cmd], cwd=src, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, cmd + "\n" + proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " 0 failed" in proc.stdout
    assert (src / ".venv" / "bin" / "svcnet").exists()
    if os.environ.get("SVCNET_REQUIRE_C_RELAY"):  # a compiler is there: the install built the relay
        probe = subprocess.run([str(src / ".venv" / "bin" / "python"), "-c", "from svcnet.proxy.userspace import relay; print(relay.AVAILABLE)"],
                               cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert probe.stdout.strip() == "True", probe.stdout + probe.stderr


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


def test_svcnet_client_commands_over_http_against_svcnet_up(tmp_path):
    """The client commands as subprocesses, over HTTP, against a running ``svcnet up``: apply
    (created/configured/unchanged), get -o wide, get --watch, delete -f (twice) and an invalid
    manifest, each printing what kubectl prints."""
    import queue
    import socket
    import threading

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        api_port = s.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    cmd = [sys.executable, "-m", "svcnet.cli.main", "up", "--state", str(tmp_path / "state.db"), "--api-port", str(api_port), "--dns-port", "0", "--kubeconfig", str(kubeconfig)]

    def svcnet(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "svcnet.cli.main", *args, "--kubeconfig", str(kubeconfig)], capture_output=True, text=True, timeout=60)

    def service(name: str, port: int, *, node_port: int | None = None, target_port: int | None = None) -> dict:
        p: dict = {"port": port}
        if target_port is not None:
            p["targetPort"] = target_port
        spec: dict = {"selector": {"app": name}, "ports": [p]}
        if node_port is not None:
            spec["type"] = "NodePort"
            p["nodePort"] = node_port
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}

    def rows(text: str) -> list[list[str]]:
        return [line.split() for line in text.splitlines() if line.strip()]

    up = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watch: subprocess.Popen | None = None
    try:
        banner = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line:
                break
            banner.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        else:
            raise AssertionError("svcnet up did not come up in 60 s:\n" + "".join(banner))
        assert banner and "Press Ctrl-C to stop." in banner[-1], "svcnet up did not come up:\n" + "".join(banner)

        # 1. apply: created, configured (new port shown by get -o wide), unchanged.
        manifest = tmp_path / "np.yaml"
        manifest.write_text(json.dumps(service("e2e-np", 8080, node_port=30081, target_port=80)))
        r = svcnet("apply", "-f", str(manifest))
        assert r.returncode == 0 and r.stdout == "service/e2e-np created\n", r.stdout + r.stderr
        manifest.write_text(json.dumps(service("e2e-np", 8181, node_port=30081, target_port=80)))
        r = svcnet("apply", "-f", str(manifest))
        assert r.returncode == 0 and r.stdout == "service/e2e-np configured\n", r.stdout + r.stderr
        r = svcnet("get", "svc", "e2e-np", "-o", "wide")
        assert r.returncode == 0, r.stdout + r.stderr
        table = rows(r.stdout)
        assert table[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"], r.stdout
        assert len(table) == 2, r.stdout
        name, typ, cluster_ip, external_ip, ports, _age, selector = table[1]
        assert (name, typ, external_ip, ports, selector) == ("e2e-np", "NodePort", "<none>", "8181:30081/TCP", "app=e2e-np"), r.stdout
        assert cluster_ip.startswith("127.96."), r.stdout
        r = svcnet("apply", "-f", str(manifest))
        assert r.returncode == 0 and r.stdout == "service/e2e-np unchanged\n", r.stdout + r.stderr

        # 2. get svc --watch while another Service is created, modified and deleted.
        watch = subprocess.Popen(
            [sys.executable, "-m", "svcnet.cli.main", "get", "svc", "--watch", "--kubeconfig", str(kubeconfig)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        lines: queue.Queue = queue.Queue()

        def pump() -> None:
            for line in watch.stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        seen: list[str] = []

        def wait_for(pred, what: str, timeout: float = 30.0) -> list[str]:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    line = lines.get(timeout=max(0.0, min(0.5, deadline - time.monotonic())))
                except queue.Empty:
                    continue
                seen.append(line)
                if pred(line.split()):
                    return line.split()
            raise AssertionError(f"watch did not print {what} in {timeout} s:\n" + "".join(seen))

        header = wait_for(lambda f: f[:1] == ["NAME"], "its header")
        assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], "".join(seen)
        wait_for(lambda f: f[:1] == ["e2e-np"], "the existing Service")
        wait_for(lambda f: f[:1] == ["kubernetes"], "the kubernetes Service")
        watched = tmp_path / "watched.yaml"
        watched.write_text(json.dumps(service("e2e-watch", 7000)))
        r = svcnet("apply", "-f", str(watched))
        assert r.returncode == 0 and r.stdout == "service/e2e-watch created\n", r.stdout + r.stderr
        added = wait_for(lambda f: f[:1] == ["e2e-watch"], "a row for the new Service")
        assert added[1] == "ClusterIP" and added[3] == "<none>" and added[4] == "7000/TCP", "".join(seen)
        watched.write_text(json.dumps(service("e2e-watch", 7001)))
        r = svcnet("apply", "-f", str(watched))
        assert r.returncode == 0 and r.stdout == "service/e2e-watch configured\n", r.stdout + r.stderr
        modified = wait_for(lambda f: f[:1] == ["e2e-watch"] and f[4:5] == ["7001/TCP"], "a row with the changed port")
        assert modified[2] == added[2], "".join(seen)  # same ClusterIP
        r = svcnet("delete", "-f", str(watched))
        assert r.returncode == 0 and r.stdout == 'service "e2e-watch" deleted\n', r.stdout + r.stderr
        wait_for(lambda f: f[:1] == ["e2e-watch"] and f[4:5] == ["7001/TCP"], "a row for the deletion")
        # kubectl prints one row per event (ADDED, MODIFIED, DELETED); the deleted object shows its last state.
        assert [f[4] for f in map(str.split, seen) if f[:1] == ["e2e-watch"]] == ["7000/TCP", "7001/TCP", "7001/TCP"], "".join(seen)
        assert [f[0] for f in map(str.split, seen)] == ["NAME", "e2e-np", "kubernetes", "e2e-watch", "e2e-watch", "e2e-watch"], "".join(seen)
        assert all(len(line.split()) == 6 for line in seen), "".join(seen)
        assert watch.poll() is None, "the watch ended by itself:\n" + "".join(seen)
        watch.terminate()
        try:
            watch.wait(timeout=30)
        except subprocess.TimeoutExpired:
            watch.kill()
            watch.wait(timeout=30)
        watch = None

        # 3. delete -f, then again: NotFound.
        r = svcnet("delete", "-f", str(manifest))
        assert r.returncode == 0 and r.stdout == 'service "e2e-np" deleted\n', r.stdout + r.stderr
        r = svcnet("delete", "-f", str(manifest))
        assert r.returncode != 0, r.stdout + r.stderr
        assert r.stderr.startswith("Error from server (NotFound): ") and 'services "e2e-np" not found' in r.stderr, r.stderr
        r = svcnet("get", "svc", "e2e-np")
        assert r.returncode == 1 and r.stderr == 'Error from server (NotFound): services "e2e-np" not found\n', r.stdout + r.stderr

        # 4. An invalid manifest is refused and creates nothing.
        bad = tmp_path / "bad.yaml"
        bad.write_text(json.dumps(service("e2e-bad", 0, target_port=80)))
        r = svcnet("apply", "-f", str(bad))
        assert r.returncode == 1, r.stdout + r.stderr
        assert 'The Service "e2e-bad" is invalid: spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive' in r.stderr, r.stderr
        r = svcnet("get", "svc", "e2e-bad")
        assert r.returncode == 1 and r.stderr == 'Error from server (NotFound): services "e2e-bad" not found\n', r.stdout + r.stderr
        r = svcnet("get", "svc", "-o", "name")
        assert r.returncode == 0 and r.stdout == "service/kubernetes\n", r.stdout + r.stderr
    finally:
        if watch is not None:
            watch.kill()
            watch.wait(timeout=30)
        up.send_signal(signal.SIGINT)
        try:
            out, _ = up.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            up.kill()
            out, _ = up.communicate(timeout=30)
            raise AssertionError("svcnet up did not stop within 60 s of Ctrl-C:\n" + out)
    assert up.returncode == 0, out
