"""A small cloud load balancer: LoadBalancer VIPs -> NodePorts of healthy nodes.

Theory of operation
-------------------
:class:`CloudLoadBalancer` plays the cloud provider's part for ``type: LoadBalancer``
Services (in local mode, on loopback VIPs from 127.240.0.0/24):

1. Informers on Services and Nodes; every change asks the
   :class:`~svcnet.proxy.runner.BoundedFrequencyRunner` for a sync, which recomputes the
   frontends with the pure :func:`~svcnet.cloudlb.plan.plan_frontends` and opens, repoints or
   closes listeners. Changes arrive by watch, never by polling the API.
2. Frontends are the node proxy's own data plane (one engine, two users):
   :class:`~svcnet.proxy.userspace.tcp.TcpListener` and
   :class:`~svcnet.proxy.userspace.udp.UdpListener`, each in front of a :class:`NodePicker`
   that round-robins over the frontend's targets whose health check passes and, on a failed
   connect, retries another node (the TCP engine's retry).
3. Health is checked in the background by a :class:`~svcnet.cloudlb.health.HealthChecker`
   (periodic, bounded concurrency, timeouts): the node proxy's ``/healthz`` for
   ``externalTrafficPolicy: Cluster`` Services, the Service's ``healthCheckNodePort`` for
   ``Local`` ones. A node failing its check gets no new connections.
4. Bind failures (the VIP port in use) are recorded per frontend, reported by
   :meth:`CloudLoadBalancer.status` and retried on later syncs.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from svcnet.client.base import Client
from svcnet.client.informer import Informer
from svcnet.cloudlb.health import HealthChecker
from svcnet.cloudlb.plan import Frontend, plan_frontends
from svcnet.proxy.runner import BoundedFrequencyRunner
from svcnet.proxy.userspace.balancer import Stats, Target
from svcnet.proxy.userspace.tcp import TcpListener, TcpOptions
from svcnet.proxy.userspace.udp import UdpListener
from svcnet.tasks import cancel_and_wait

__all__ = ["CloudLoadBalancer", "NodePicker"]

log = logging.getLogger(__name__)


class NodePicker:
    """Round robin over the healthy targets of one frontend (a :class:`~svcnet.proxy.userspace.balancer.Picker`)."""

    def __init__(self, frontend: Frontend, health: HealthChecker) -> None:
        self.health = health
        self.stats = Stats()
        self.targets: list[Target] = []
        self.health_keys: list[tuple[str, int, str]] = []
        self.frontend = frontend
        self._next = 0
        self.update(frontend)

    def update(self, frontend: Frontend) -> None:
        self.frontend = frontend
        old = {(t.ip, t.port): t for t in self.targets}
        self.targets = []
        self.health_keys = []
        for t in frontend.targets:
            target = old.get((t.ip, t.port)) or Target(t.ip, t.port, name=f"{t.node} {t.ip}:{t.port}")
            self.targets.append(target)
            self.health_keys.append(t.health)

    def healthy_targets(self) -> list[Target]:
        return [t for t, k in zip(self.targets, self.health_keys) if self.health.healthy(k)]

    def pick(self, client_ip: str, client_port: int, dst_ip: str, tried: tuple[Target, ...] = ()) -> Target | None:
        n = len(self.targets)
        for i in range(n):
            j = (self._next + i) % n
            t = self.targets[j]
            if t not in tried and self.health.healthy(self.health_keys[j]):
                self._next = j + 1
                return t
        return None

    def opened(self, target: Target, proto: str) -> None:
        for st in (target.stats, self.stats):
            st.connections += 1
            st.active += 1

    def failed(self, target: Target, token: Any) -> None:
        for st in (target.stats, self.stats):
            st.connections -= 1
            st.active -= 1
            st.connect_failures += 1

    def closed(self, target: Target, token: Any, client_ip: str) -> None:
        target.stats.active -= 1
        self.stats.active -= 1


class CloudLoadBalancer:
    def __init__(
        self,
        client: Client,
        *,
        health_interval: float = 1.0,
        health_timeout: float = 1.0,
        rise: int = 1,
        fall: int = 2,
        node_healthz_port: int = 10256,
        udp_idle_timeout: float = 30.0,
        tcp_options: TcpOptions | None = None,
        bind_retry_interval: float = 2.0,
        max_concurrent_checks: int = 32,
    ) -> None:
        self.client = client
        self.node_healthz_port = node_healthz_port
        self.udp_idle_timeout = udp_idle_timeout
        self.tcp_options = tcp_options or TcpOptions()
        self.bind_retry_interval = bind_retry_interval
        self.health = HealthChecker(
            interval=health_interval, timeout=health_timeout, rise=rise, fall=fall, concurrency=max_concurrent_checks
        )
        self.services = Informer(client, "services", name="cloudlb-services")
        self.nodes = Informer(client, "nodes", name="cloudlb-nodes")
        self.runner = BoundedFrequencyRunner("cloudlb", self.sync, min_interval=0.0, retry_interval=1.0, max_interval=60.0)
        for inf in (self.services, self.nodes):
            inf.add_handler(lambda o: self.runner.run(), lambda a, b: self.runner.run(), lambda o: self.runner.run())
        self.frontends: dict[tuple[str, str, int], Frontend] = {}
        self.listeners: dict[tuple[str, str, int], TcpListener | UdpListener] = {}
        self.pickers: dict[tuple[str, str, int], NodePicker] = {}
        self.bind_errors: dict[str, str] = {}
        self.skipped: list[str] = []
        self.syncs = 0
        self._retry: asyncio.TimerHandle | None = None
        self._tasks: list[asyncio.Task] = []
        self._synced = asyncio.Event()
        self._stopped = asyncio.Event()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, timeout: float | None = 30.0) -> None:
        """Start watching; return after the first sync."""
        for inf in (self.services, self.nodes):
            inf.start()
        for inf in (self.services, self.nodes):
            if not await inf.wait_synced(timeout):
                raise TimeoutError(f"cloudlb: informer {inf.name} did not sync")
        loop = asyncio.get_running_loop()
        self.runner.run()
        self._tasks.append(loop.create_task(self.runner.loop(), name="cloudlb-sync"))
        self._tasks.append(loop.create_task(self.health.run(), name="cloudlb-health"))
        await asyncio.wait_for(self._synced.wait(), timeout)

    async def run(self) -> None:
        if not self._synced.is_set():
            await self.start()
        await self._stopped.wait()

    async def stop(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        for inf in (self.services, self.nodes):
            await inf.stop()
        for lis in self.listeners.values():
            lis.close_all()
        self.listeners.clear()
        self._stopped.set()

    # -- sync ---------------------------------------------------------------------------------

    async def sync(self) -> None:
        frontends, self.skipped = plan_frontends(
            self.services.list(), self.nodes.list(), healthz_port=self.node_healthz_port
        )
        self.health.set_keys({t.health for f in frontends.values() for t in f.targets})
        for key in [k for k in self.listeners if k not in frontends]:
            self.listeners.pop(key).close()
            self.pickers.pop(key, None)
            log.info("cloudlb: closed %s %s:%d", *key)
        failing: dict[str, str] = {}
        for key, fe in frontends.items():
            picker = self.pickers.get(key)
            if picker is None:
                picker = self.pickers[key] = NodePicker(fe, self.health)
            else:
                picker.update(fe)
            lis = self.listeners.get(key)
            if lis is not None:
                lis.picker = picker
                if isinstance(lis, TcpListener) and lis.source_ranges != fe.source_ranges:
                    lis.set_source_ranges(fe.source_ranges)
                continue
            name = f"{fe.protocol} {fe.ip}:{fe.port}"
            if fe.protocol == "UDP":
                lis = UdpListener(fe.ip, fe.port, picker, idle_timeout=self.udp_idle_timeout, name=name)
            else:
                lis = TcpListener(fe.ip, fe.port, picker, options=self.tcp_options, source_ranges=fe.source_ranges, name=name)
            try:
                lis.start()
            except OSError as e:
                failing[name] = f"{e.strerror or e}"
                if self.bind_errors.get(name) != failing[name]:
                    log.warning("cloudlb: cannot bind %s for %s: %s; will retry", name, fe.service, e)
                continue
            self.listeners[key] = lis
            log.info("cloudlb: listening on %s for %s -> nodePort %d", name, fe.service, fe.node_port)
        self.bind_errors = failing
        self.frontends = frontends
        self.syncs += 1
        self._synced.set()
        if failing and self._retry is None:
            def again() -> None:
                self._retry = None
                self.runner.run()

            self._retry = asyncio.get_running_loop().call_later(self.bind_retry_interval, again)

    def status(self) -> dict:
        return {
            "syncs": self.syncs,
            "frontends": [
                {
                    "frontend": f"{fe.protocol} {fe.ip}:{fe.port}",
                    "service": fe.service,
                    "nodePort": fe.node_port,
                    "policy": "Local" if fe.local else "Cluster",
                    "listening": key in self.listeners,
                    "healthy": [t.name for t in self.pickers[key].healthy_targets()] if key in self.pickers else [],
                    "targets": [t.name for t in self.pickers[key].targets] if key in self.pickers else [],
                }
                for key, fe in sorted(self.frontends.items())
            ],
            "bind_errors": dict(self.bind_errors),
            "skipped": list(self.skipped),
            "health": self.health.status(),
        }
