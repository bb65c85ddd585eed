"""The embedded default: a whole cluster in one unprivileged process, on loopback addresses.

``svcnet up`` runs a :class:`LocalCluster`:

- the control plane (SQLite store, TLS API server, kubeconfig) and the controller manager;
- N node agents, each a pod runtime (pods are local processes on their own 127.244.<i>.x IP)
  and a userspace proxy; node i has IP 127.0.0.1 (i = 1) or 127.0.1.i;
- the cluster DNS server on 127.0.0.1:10053;
- a small "cloud load balancer" answering on the LoadBalancer IPs (127.240.0.0/24) and
  forwarding to the NodePorts of healthy nodes.

All of it talks to the API through the in-process client, exactly as separate processes would
over HTTP. Local mode shares one network namespace, so ClusterIPs and externalIPs are bound by
node 1's proxy only (clients on this host are "on node 1"), and LoadBalancer IPs by the cloud LB.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from dataclasses import dataclass, field
from pathlib import Path

from svcnet.client.base import Client
from svcnet.controlplane import ControllerManager, ControlPlane, ControlPlaneConfig
from svcnet.tasks import cancel_and_wait

__all__ = ["LocalCluster", "LocalClusterConfig", "node_ip", "node_name", "pod_cidr"]

log = logging.getLogger(__name__)


def node_name(i: int) -> str:
    return f"node{i}"


def node_ip(i: int) -> str:
    """Node 1 is 127.0.0.1 (what "localhost" reaches); node i > 1 is 127.0.1.i."""
    return "127.0.0.1" if i == 1 else f"127.0.1.{i}"


def pod_cidr(i: int) -> str:
    return f"127.244.{i}.0/24"


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalClusterConfig:
    control_plane: ControlPlaneConfig = field(default_factory=ControlPlaneConfig)
    nodes: int = 1
    dns_port: int = 10053
    dns: bool = True
    cloud_lb: bool = True
    scheduler: str = "rr"
    #: who relays TCP bytes in the userspace proxies: "auto", "c" or "python" (relay.py)
    tcp_engine: str = "auto"
    #: UDP client-cache idle timeout of the userspace proxies (upstream default 250 ms)
    udp_idle_timeout: float = 0.25
    #: per-node proxy metrics ports start here (node i gets base + i - 1); 0 = any free port
    metrics_port_base: int = 10249
    healthz_port: int = 10256


class LocalCluster:
    def __init__(self, config: LocalClusterConfig):
        self.config = config
        self.control_plane = ControlPlane(config.control_plane)
        self.controllers: ControllerManager | None = None
        self.kubelets: list = []
        self.proxies: list = []
        self.dns_server = None
        self.dns_feed = None
        self.cloud_lb = None
        self._tasks: list[asyncio.Task] = []
        self.client: Client | None = None

    @property
    def state_dir(self) -> Path:
        return Path(self.control_plane.config.state).parent if self.control_plane.config.state != "memory:" else Path(self.control_plane.files_dir)

    def _spawn(self, name: str, coro) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(self._supervise(name, coro), name=name))

    async def _supervise(self, name: str, coro) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s stopped with an error", name)

    def check_node_ports_free(self) -> None:
        """Fail at once, with a clear message, when a node's proxy health port is taken.

        Every local cluster puts node i on the same IP, so a port that is taken there most
        likely belongs to another ``svcnet up`` or ``svcnet demo``; running on would mix the
        two clusters' NodePorts (a proxy only warns and retries a port it cannot bind)."""
        port = self.config.healthz_port
        if not port:
            return
        for i in range(1, self.config.nodes + 1):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
                try:
                    s.bind((node_ip(i), port))
                except OSError as e:
                    if e.errno != errno.EADDRINUSE:
                        raise
                    raise OSError(
                        errno.EADDRINUSE,
                        f"{node_ip(i)}:{port} (the health port of {node_name(i)}) is in use: is another "
                        "svcnet up or svcnet demo running? Local clusters share node IPs and ports; run one at a time",
                    ) from None

    async def start(self) -> None:
        cfg = self.config
        self.check_node_ports_free()
        await self.control_plane.start()
        self.client = self.control_plane.client()
        self.controllers = ControllerManager(self.client, lb_pools=cfg.control_plane.lb_pools)
        await self.controllers.start()
        from svcnet.kubelet.agent import Kubelet
        from svcnet.proxy.agent import NodeProxy
        from svcnet.proxy.userspace.tcp import TcpOptions

        for i in range(1, cfg.nodes + 1):
            kl = Kubelet(self.client, node_name(i), node_ip(i), pod_cidr(i), self.state_dir / "nodes" / node_name(i))
            self.kubelets.append(kl)
            self._spawn(f"kubelet-{node_name(i)}", kl.run())
            metrics = f"127.0.0.1:{cfg.metrics_port_base + i - 1 if cfg.metrics_port_base else 0}"
            px = NodeProxy(
                self.client,
                node_name=node_name(i),
                node_ips=[node_ip(i)],
                bind_cluster_ips=(i == 1),
                bind_lb_ips=not cfg.cloud_lb,
                scheduler=cfg.scheduler,
                tcp_options=TcpOptions(engine=cfg.tcp_engine),
                udp_idle_timeout=cfg.udp_idle_timeout,
                metrics_addr=metrics,
                healthz_addr=f"{node_ip(i)}:{cfg.healthz_port}",
            )
            self.proxies.append(px)
            self._spawn(f"proxy-{node_name(i)}", px.run())
        if cfg.dns:
            from svcnet.dns.config import DNSConfig
            from svcnet.dns.feed import DNSFeed
            from svcnet.dns.index import ClusterIndex
            from svcnet.dns.server import DNSServer

            dcfg = DNSConfig()
            index = ClusterIndex.for_config(dcfg)
            self.dns_server = DNSServer(dcfg, index)
            await self.dns_server.start("127.0.0.1", cfg.dns_port)
            self.dns_feed = DNSFeed(self.client, index, pods=dcfg.pods == "verified")
            self._spawn("dns-feed", self.dns_feed.run())
        if cfg.cloud_lb:
            from svcnet.cloudlb import CloudLoadBalancer

            self.cloud_lb = CloudLoadBalancer(self.client)
            self._spawn("cloud-lb", self.cloud_lb.run())

    async def wait_ready(self, timeout: float = 30.0) -> bool:
        """Until every node is registered and Ready."""
        assert self.client is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            nodes = (await self.client.list("nodes"))["items"]
            ready = [
                n
                for n in nodes
                if any(c.get("type") == "Ready" and c.get("status") == "True" for c in (n.get("status") or {}).get("conditions") or [])
            ]
            if len(ready) >= self.config.nodes:
                return True
            await asyncio.sleep(0.1)
        return False

    async def stop(self) -> None:
        for kl in self.kubelets:
            try:
                await kl.stop()
            except Exception:
                log.exception("stopping a kubelet")
        for px in self.proxies:
            try:
                await px.stop()
            except Exception:
                log.exception("stopping a proxy")
        if self.cloud_lb is not None:
            try:
                await self.cloud_lb.stop()
            except Exception:
                log.exception("stopping the cloud LB")
        await cancel_and_wait(self._tasks)
        if self.dns_server is not None:
            await self.dns_server.stop()
        if self.controllers is not None:
            await self.controllers.stop()
        await self.control_plane.stop()
