"""``svcnet demo``: a local cluster, the echo app behind ClusterIP, NodePort and LoadBalancer
Services, live traffic through every address, and pods deleted while it flows.

Theory of operation
-------------------
The demo starts a :class:`~svcnet.localcluster.LocalCluster` with its own throw-away state
(nothing touches ``svcnet up``'s state), applies ``examples/echo-app.yaml`` (a Deployment of 3
``svcnet/echo`` pods and three Services), and waits until the Service has 3 ready endpoints and
the LoadBalancer has an address.

Then a client sends HTTP requests, one new connection each (so every request is load-balanced),
in turn to the ClusterIP, to the NodePort on every node IP and to the LoadBalancer IP. Each echo
pod answers with its name and IP, so the screen shows which pod served each address and the
running distribution. Every few seconds the demo deletes a pod: the pod turns terminating,
leaves the endpoints, its process is stopped gracefully, and the ReplicaSet creates a
replacement with a new name and IP — while requests keep succeeding (the userspace proxy
retries a failed connect on another endpoint).

``--once`` runs a short non-interactive version and prints a summary; the exit code is 0 only
if no request failed.
"""

from __future__ import annotations

import asyncio
import json
import random
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

from svcnet.api.manifest import load_manifests
from svcnet.api.resources import by_kind
from svcnet.client.base import Client
from svcnet.controlplane import ControlPlaneConfig
from svcnet.localcluster import LocalCluster, LocalClusterConfig, node_ip

__all__ = ["DemoConfig", "DemoStats", "run_demo"]

EXAMPLE = Path(__file__).resolve().parent / "examples" / "echo-app.yaml"


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoConfig:
    nodes: int = 2
    duration: float = 0.0  # 0 = until Ctrl-C
    kill_every: float = 4.0
    request_interval: float = 0.02
    once: bool = False
    manifest: Path = EXAMPLE


@dataclass
class Target:
    label: str
    host: str
    port: int


@dataclass
class DemoStats:
    ok: int = 0
    failed: int = 0
    by_target: dict[str, Counter] = field(default_factory=dict)
    by_pod: Counter = field(default_factory=Counter)
    pod_ips: dict[str, str] = field(default_factory=dict)
    events: deque = field(default_factory=lambda: deque(maxlen=8))
    errors: deque = field(default_factory=lambda: deque(maxlen=5))
    deleted: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def event(self, text: str) -> None:
        self.events.append(f"{time.monotonic() - self.started:6.1f}s  {text}")


async def http_get(host: str, port: int, timeout: float = 5.0) -> dict:
    """One request on a new connection; returns the echo JSON. Raises on any failure."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(f"GET /demo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1] if head.startswith(b"HTTP/") else b""
    if status != b"200":
        raise ConnectionError(f"HTTP status {status.decode() or 'missing'}")
    return json.loads(body)


async def _wait_for(pred, timeout: float, what: str):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        v = await pred()
        if v:
            return v
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def _ready_endpoints(client: Client, svc: str) -> int:
    slices = (await client.list("endpointslices", "default", label_selector=f"kubernetes.io/service-name={svc}"))["items"]
    return sum(1 for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready"))


async def setup(cluster: LocalCluster, manifest: Path) -> list[Target]:
    client = cluster.client
    assert client is not None
    for obj in load_manifests(manifest.read_text(), str(manifest)):
        rt = by_kind(obj["apiVersion"], obj["kind"])
        assert rt is not None, f"{obj['kind']} is not served"
        await client.create(rt, obj, "default")

    async def three_ready() -> bool:
        return await _ready_endpoints(client, "echo") >= 3

    await _wait_for(three_ready, 60, "3 ready echo pods")

    async def lb_ip() -> str | None:
        svc = await client.get("services", "echo-lb", "default")
        ing = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        return ing[0].get("ip") if ing else None

    ip = await _wait_for(lb_ip, 30, "a LoadBalancer IP")
    cip = (await client.get("services", "echo", "default"))["spec"]["clusterIP"]
    np_svc = await client.get("services", "echo-nodeport", "default")
    node_port = np_svc["spec"]["ports"][0]["nodePort"]
    targets = [Target("ClusterIP", cip, 8080)]
    targets += [Target(f"NodePort node{i}", node_ip(i), node_port) for i in range(1, cluster.config.nodes + 1)]
    targets.append(Target("LoadBalancer", ip, 8080))
    return targets


async def traffic(targets: list[Target], stats: DemoStats, stop: asyncio.Event, interval: float) -> None:
    i = 0
    while not stop.is_set():
        t = targets[i % len(targets)]
        i += 1
        try:
            reply = await http_get(t.host, t.port)
            pod = reply.get("pod", "?")
            stats.ok += 1
            stats.by_target.setdefault(t.label, Counter())[pod] += 1
            stats.by_pod[pod] += 1
            stats.pod_ips[pod] = reply.get("ip", "")
        except Exception as e:  # every failure is counted and shown
            stats.failed += 1
            stats.errors.append(f"{t.label} {t.host}:{t.port}: {type(e).__name__}: {e}")
        if interval:
            await asyncio.sleep(interval)


async def chaos(client: Client, stats: DemoStats, stop: asyncio.Event, every: float, rng: random.Random) -> None:
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except asyncio.TimeoutError:
            pass
        pods = [
            p
            for p in (await client.list("pods", "default", label_selector="app=echo"))["items"]
            if not p["metadata"].get("deletionTimestamp")
        ]
        if not pods:
            continue
        victim = rng.choice(pods)
        name = victim["metadata"]["name"]
        await client.delete("pods", name, "default")
        stats.deleted.append(name)
        stats.event(f"deleted pod {name} ({(victim.get('status') or {}).get('podIP', '?')})")


def render(stats: DemoStats, targets: list[Target]):
    """One row per pod (deleted ones dimmed), one column per address, plus the share of all
    requests each pod served."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table

    addresses = "   ".join(f"[bold]{t.label}[/] {t.host}:{t.port}" for t in targets)
    t = Table(title="requests served, per pod and per address", title_justify="left")
    t.add_column("pod")
    t.add_column("pod IP")
    for tg in targets:
        t.add_column(tg.label.replace("NodePort ", "NodePort\n"), justify="right")
    t.add_column("share", justify="right")
    total = sum(stats.by_pod.values()) or 1
    for pod in stats.by_pod:  # first-seen order: replacements appear at the bottom
        gone = pod in stats.deleted
        cells = [str(stats.by_target.get(tg.label, Counter()).get(pod, 0)) for tg in targets]
        share = f"{100 * stats.by_pod[pod] / total:4.1f}%"
        style = "dim strike" if gone else ""
        t.add_row(pod + (" (deleted)" if gone else ""), stats.pod_ips.get(pod, ""), *cells, share, style=style)
    ok_style = "red" if stats.failed else "green"
    head = (
        f"requests ok: [bold green]{stats.ok}[/]   failed: [bold {ok_style}]{stats.failed}[/]   "
        f"pods deleted: {len(stats.deleted)}\n{addresses}"
    )
    parts = [head, t, Panel("\n".join(stats.events) or "(none yet)", title="events")]
    if stats.errors:
        parts.append(Panel("\n".join(stats.errors), title="failures", style="red"))
    return Group(*parts)


async def run_demo(cfg: DemoConfig, *, console=None) -> DemoStats:
    from rich.console import Console
    from rich.live import Live

    console = console or Console()
    tmp = tempfile.TemporaryDirectory(prefix="svcnet-demo-")
    cluster = LocalCluster(
        LocalClusterConfig(
            control_plane=ControlPlaneConfig(state="memory:", api_port=0, kubeconfig=str(Path(tmp.name) / "kubeconfig")),
            nodes=cfg.nodes,
            dns_port=0,
            metrics_port_base=0,
            healthz_port=10256,
        )
    )
    stats = DemoStats()
    stop = asyncio.Event()
    try:
        with console.status("starting a local cluster and the echo app..."):
            await cluster.start()
            await cluster.wait_ready()
            targets = await setup(cluster, cfg.manifest)
        stats.event(f"cluster up: {cfg.nodes} nodes, API {cluster.control_plane.server.url}")
        assert cluster.client is not None
        rng = random.Random()
        tasks = [
            asyncio.create_task(traffic(targets, stats, stop, cfg.request_interval)),
            asyncio.create_task(chaos(cluster.client, stats, stop, cfg.kill_every, rng)),
        ]
        duration = cfg.duration or (20.0 if cfg.once else 0.0)
        try:
            if cfg.once:
                await asyncio.sleep(duration)
            else:
                with Live(render(stats, targets), console=console, refresh_per_second=4) as live:
                    end = time.monotonic() + duration if duration else None
                    while end is None or time.monotonic() < end:
                        live.update(render(stats, targets))
                        await asyncio.sleep(0.25)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        if cfg.once:
            console.print(render(stats, targets))
    finally:
        await cluster.stop()
        tmp.cleanup()
    return stats
