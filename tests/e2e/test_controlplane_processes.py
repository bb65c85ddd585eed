"""``svcnet apiserver`` and ``svcnet controller-manager`` as two separate processes.

The controller-manager only knows the kubeconfig the API server wrote; a Service and pods
created over HTTP get their EndpointSlices and Endpoints from it. The API server is then
stopped (SIGTERM, clean exit) and started again on the same state file and port: the objects
survive, and the controller-manager, which kept running, carries on through the new server.
Processes are started and stopped by PID only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from svcnet.client.base import Client
from svcnet.client.http import client_from_kubeconfig

pytestmark = pytest.mark.slow

TIMEOUT = 30.0


class Proc:
    """A child process whose stdout lines we read with timeouts; stderr goes to a file."""

    def __init__(self, proc: asyncio.subprocess.Process, log: Path):
        self.proc = proc
        self.log = log
        self.lines: list[str] = []

    @classmethod
    async def start(cls, tmp: Path, name: str, *args: str) -> "Proc":
        env = dict(os.environ)
        env.update(PYTHONUNBUFFERED="1", HOME=str(tmp / "home"), XDG_STATE_HOME=str(tmp / "xdg"))
        log = tmp / f"{name}.stderr"
        with open(log, "ab") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "svcnet.cli.main", *args, stdout=asyncio.subprocess.PIPE, stderr=err, env=env
            )
        return cls(proc, log)

    async def line_starting(self, prefix: str, timeout: float = TIMEOUT) -> str:
        assert self.proc.stdout is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                raw = await asyncio.wait_for(self.proc.stdout.readline(), max(0.01, deadline - loop.time()))
            except asyncio.TimeoutError:
                raise AssertionError(f"no line starting {prefix!r} in {timeout}s; got {self.lines}; stderr: {self.stderr()}") from None
            if not raw:
                raise AssertionError(f"process exited ({self.proc.returncode}) before {prefix!r}; got {self.lines}; stderr: {self.stderr()}")
            line = raw.decode().rstrip("\n")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    async def terminate(self, timeout: float = TIMEOUT) -> int:
        """SIGTERM by PID, then the exit code (SIGKILL only if it hangs, and the test fails)."""
        if self.proc.returncode is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            os.kill(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()
            raise AssertionError(f"pid {self.proc.pid} ignored SIGTERM; stderr: {self.stderr()}") from None


async def start_apiserver(tmp: Path, port: int) -> tuple[Proc, str]:
    p = await Proc.start(
        tmp, "apiserver", "apiserver",
        "--state", str(tmp / "state.db"),
        "--api-port", str(port),
        "--kubeconfig", str(tmp / "kubeconfig"),
        "--service-cluster-ip-range", "10.96.0.0/12",
    )
    line = await p.line_starting("API server listening on ")
    return p, line.rsplit(" ", 1)[1]


async def wait_for(fn, what: str, timeout: float = TIMEOUT):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        try:
            last = await fn()
        except Exception as e:  # the server may be restarting
            last = e
        else:
            if last:
                return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


async def make_pod(c: Client, name: str, ip: str, ready: bool = True) -> None:
    await c.create("pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"nodeName": "n1", "containers": [{"name": "app", "image": "img", "ports": [{"name": "http", "containerPort": 8080}]}]},
    })
    await set_ready(c, name, ip, ready)


async def set_ready(c: Client, name: str, ip: str, ready: bool) -> None:
    p = await c.get("pods", name)
    p["status"].update(phase="Running", podIP=ip, podIPs=[{"ip": ip}],
                       conditions=[{"type": "Ready", "status": "True" if ready else "False"}])
    await c.update_status("pods", p)


def endpoints_of(slices: list[dict]) -> dict[str, bool]:
    return {e["addresses"][0]: bool(e["conditions"].get("ready")) for s in slices for e in s.get("endpoints") or []}


async def test_apiserver_and_controller_manager_as_separate_processes(tmp_path):
    api, url = await start_apiserver(tmp_path, 0)
    port = int(url.rsplit(":", 1)[1])
    assert url == f"https://127.0.0.1:{port}"
    kubeconfig = str(tmp_path / "kubeconfig")
    cm = await Proc.start(tmp_path, "controller-manager", "controller-manager", "--kubeconfig", kubeconfig, "--controllers", "endpointslice,endpoints")
    client = client_from_kubeconfig(kubeconfig)
    try:
        running = await cm.line_starting("controllers running: ")
        assert set(running.split(": ", 1)[1].split(", ")) == {"endpointslice", "endpoints"}

        await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        web = await client.create("services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        })
        await make_pod(client, "a", "10.244.1.5")
        await make_pod(client, "b", "10.244.1.6", ready=False)

        async def slices() -> list[dict]:
            return (await client.list("endpointslices", "default", label_selector="kubernetes.io/service-name=web"))["items"]

        async def two_endpoints():
            s = await slices()
            return s if endpoints_of(s) == {"10.244.1.5": True, "10.244.1.6": False} else None

        got = await wait_for(two_endpoints, "the controller-manager's EndpointSlice")
        assert got[0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
        assert got[0]["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "endpointslice-controller.k8s.io"

        async def endpoints_ready():
            ep = await client.get("endpoints", "web")
            subsets = ep.get("subsets") or []
            return ep if subsets and [a["ip"] for a in subsets[0].get("addresses") or []] == ["10.244.1.5"] else None

        await wait_for(endpoints_ready, "the legacy Endpoints")

        # --- restart the API server on the same state and port
        assert await api.terminate() == 0
        assert "Traceback" not in api.stderr()
        api, url2 = await start_apiserver(tmp_path, port)
        assert url2 == url

        again = await wait_for(lambda: client.get("services", "web"), "the service after the restart")
        assert again["metadata"]["uid"] == web["metadata"]["uid"]
        assert again["spec"]["clusterIP"] == web["spec"]["clusterIP"]
        assert {p["metadata"]["name"] for p in (await client.list("pods", "default"))["items"]} == {"a", "b"}
        assert endpoints_of(await slices()) == {"10.244.1.5": True, "10.244.1.6": False}

        # the controller-manager (never restarted) follows changes made through the new server
        await set_ready(client, "b", "10.244.1.6", True)
        await make_pod(client, "c", "10.244.1.7")

        async def three_ready():
            s = await slices()
            return s if endpoints_of(s) == {"10.244.1.5": True, "10.244.1.6": True, "10.244.1.7": True} else None

        await wait_for(three_ready, "the slice to follow changes after the API server restart")
        assert cm.proc.returncode is None

        # a new Service after the restart is handled too
        await client.create("services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web2"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 81, "targetPort": 8080}]},
        })

        async def web2_slice():
            s = (await client.list("endpointslices", "default", label_selector="kubernetes.io/service-name=web2"))["items"]
            return s if len(endpoints_of(s)) == 3 else None

        await wait_for(web2_slice, "a slice for a service created after the restart")
    finally:
        await client.close()
        cm_code = await cm.terminate()
        api_code = await api.terminate()
    assert cm_code == 0, cm.stderr()
    assert api_code == 0, api.stderr()
    assert "Traceback" not in cm.stderr()


EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "svcnet" / "examples"


async def test_every_component_as_its_own_process_serves_the_example(tmp_path):
    """apiserver, controller-manager, two ``svcnet node`` agents and ``svcnet cloud-lb``, each
    its own process talking HTTP to the API server: the example app answers through its
    ClusterIP, the NodePort on both nodes and the LoadBalancer IP. Addresses differ from
    ``svcnet up``'s (services 127.97/16, nodes 127.0.3.N, pods 127.245.N/24, LB 127.241/24)
    so this can run beside the local-cluster tests."""
    from svcnet.demo import http_get

    api = await Proc.start(
        tmp_path, "apiserver", "apiserver",
        "--state", "memory:", "--api-port", "0", "--kubeconfig", str(tmp_path / "kubeconfig"),
        "--service-cluster-ip-range", "127.97.0.0/16",
    )
    await api.line_starting("API server listening on ")
    kubeconfig = str(tmp_path / "kubeconfig")
    procs = [api]
    client = client_from_kubeconfig(kubeconfig)
    try:
        cm = await Proc.start(tmp_path, "controller-manager", "controller-manager", "--kubeconfig", kubeconfig, "--lb-pool", "127.241.0.0/24")
        procs.append(cm)
        await cm.line_starting("controllers running: ")
        for i, extra in ((1, ()), (2, ("--no-cluster-ips",))):
            node = await Proc.start(
                tmp_path, f"node{i}", "node", "--kubeconfig", kubeconfig, "--name", f"node{i}",
                "--ip", f"127.0.3.{i}", "--pod-cidr", f"127.245.{i}.0/24", "--state-dir", str(tmp_path / f"node{i}"), *extra,
            )
            procs.append(node)
            assert (await node.line_starting(f"node node{i} ")).endswith("running: pod runtime and userspace proxy")
        lb = await Proc.start(tmp_path, "cloud-lb", "cloud-lb", "--kubeconfig", kubeconfig)
        procs.append(lb)
        await lb.line_starting("cloud load balancer running")

        applied = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "svcnet.cli.main", "apply", "--kubeconfig", kubeconfig, "-f", str(EXAMPLES / "echo-app.yaml"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(applied.communicate(), TIMEOUT)
        assert applied.returncode == 0, err.decode()
        assert out.decode().splitlines() == [
            "deployment.apps/echo created", "service/echo created", "service/echo-nodeport created", "service/echo-lb created",
        ]

        async def three_ready():
            slices = (await client.list("endpointslices", "default", label_selector="kubernetes.io/service-name=echo"))["items"]
            ready = [a for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready") for a in e["addresses"]]
            return sorted(ready) if len(ready) == 3 else None

        pod_ips = await wait_for(three_ready, "3 ready echo endpoints", 60)
        assert all(ip.startswith(("127.245.1.", "127.245.2.")) for ip in pod_ips), pod_ips
        pods = {p["metadata"]["name"]: p for p in (await client.list("pods", "default"))["items"]}
        assert {p["spec"]["nodeName"] for p in pods.values()} <= {"node1", "node2"}

        cluster_ip = (await client.get("services", "echo", "default"))["spec"]["clusterIP"]
        assert cluster_ip.startswith("127.97.")

        async def lb_ip():
            ingress = ((await client.get("services", "echo-lb", "default")).get("status") or {}).get("loadBalancer", {}).get("ingress")
            return ingress[0]["ip"] if ingress else None

        lb_addr = await wait_for(lb_ip, "a LoadBalancer IP", 30)
        assert lb_addr.startswith("127.241.0.")
        addresses = [(cluster_ip, 8080), ("127.0.3.1", 30080), ("127.0.3.2", 30080), (lb_addr, 8080)]

        async def answered(addr):
            try:
                return await http_get(*addr, timeout=2)
            except OSError:
                return None  # listeners come up with the proxies' and the LB's next sync

        for addr in addresses:
            await wait_for(lambda addr=addr: answered(addr), f"an answer on {addr}", 30)
        for addr in addresses[:3]:  # round robin over the three pods through each proxy address
            seen = [(await http_get(*addr))["pod"] for _ in range(30)]
            assert sorted(set(seen)) == sorted(pods) and all(seen.count(p) == 10 for p in pods), (addr, seen)
        lb_pods = {(await http_get(*addresses[3]))["pod"] for _ in range(30)}
        assert lb_pods <= set(pods) and len(lb_pods) >= 2, lb_pods

        # events from the controller-manager and the node agents, over HTTP
        async def events_seen():
            items = (await client.list("events", "default"))["items"]
            seen = {(e["source"].get("component"), e["reason"]) for e in items}
            want = {("default-scheduler", "Scheduled"), ("kubelet", "Started"), ("replicaset-controller", "SuccessfulCreate"),
                    ("deployment-controller", "ScalingReplicaSet"), ("loadbalancer-ipam", "IPAllocated")}
            return want <= seen or None

        await wait_for(events_seen, "scheduler, kubelet, controller and LB events", 15)

        # svcnet logs: API server -> the kubelet of the pod's node (a node agent process)
        name = sorted(pods)[0]
        logs = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "svcnet.cli.main", "logs", name, "--kubeconfig", kubeconfig,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(logs.communicate(), TIMEOUT)
        assert (logs.returncode, err.decode()) == (0, "")
        assert out.decode().startswith("svcnet/echo serving http=8080")
    finally:
        await client.close()
        codes = [await p.terminate() for p in reversed(procs)]
    assert codes == [0] * len(procs), [(p.log.name, p.stderr()) for p in procs]
