"""The node proxy process: watches Services, EndpointSlices and its Node; drives a data plane.

Theory of operation
-------------------
:class:`NodeProxy` is kube-proxy for one node, with the userspace data plane
(:class:`~svcnet.proxy.userspace.proxier.UserspaceProxier`):

1. Three informers over the client interface: Services and EndpointSlices (all namespaces) and
   this node's own Node object (labels for topology, eligibility for ``/healthz``). Their
   handlers only feed the change trackers and, when something relevant changed, call
   ``runner.run()``; changes arrive by watch, never by polling.
2. The first sync runs only after every informer has synced (upstream ``OnServiceSynced`` /
   ``OnEndpointSlicesSynced``); later ones run through the
   :class:`~svcnet.proxy.runner.BoundedFrequencyRunner`: at least ``min_sync_period`` apart,
   retried after a failure, and at least every ``sync_period`` (which also expires affinity
   records and retries failed binds).
3. Side servers: Prometheus ``/metrics`` on ``metrics_addr`` (default ``127.0.0.1:10249``)
   and kube-proxy's ``/healthz`` + ``/livez`` on ``healthz_addr`` (default
   ``<first node IP>:10256``). Either may be ``None`` (off) or use port 0 (any free port; see
   :meth:`NodeProxy.status`). Failing to bind them is logged and reported, not fatal.

Local mode runs several agents in one network namespace: only one binds ClusterIPs and
externalIPs (``bind_cluster_ips``), each binds its own node IPs at every nodePort, and
LoadBalancer VIPs are bound here only when no cloud load balancer owns them
(``bind_lb_ips``).
"""

from __future__ import annotations

import asyncio
import logging

from svcnet.client.base import Client
from svcnet.client.informer import Informer
from svcnet.proxy.runner import BoundedFrequencyRunner
from svcnet.proxy.userspace.httpserve import HttpServer, Response
from svcnet.proxy.userspace.metrics import CONTENT_TYPE
from svcnet.proxy.userspace.plan import NodeConfig
from svcnet.proxy.userspace.proxier import UserspaceProxier
from svcnet.proxy.userspace.tcp import TcpOptions
from svcnet.proxy.userspace.udp import DEFAULT_UDP_IDLE_TIMEOUT
from svcnet.tasks import cancel_and_wait

__all__ = ["DEFAULT_HEALTHZ_PORT", "DEFAULT_METRICS_ADDR", "NodeProxy", "raise_nofile_limit", "split_addr"]

log = logging.getLogger(__name__)

DEFAULT_METRICS_ADDR = "127.0.0.1:10249"
DEFAULT_HEALTHZ_PORT = 10256
_DEFAULT = object()


def raise_nofile_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (a proxied connection holds two sockets
    and, while splicing, pipes; upstream's userspace proxy raised it to 64000). Returns it."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
        return soft
    except (ImportError, ValueError, OSError):
        return -1


def split_addr(addr: str) -> tuple[str, int]:
    """``"ip:port"`` or ``"[ip6]:port"`` -> (ip, port)."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


class NodeProxy:
    def __init__(
        self,
        client: Client,
        *,
        node_name: str,
        node_ips: list[str],
        bind_cluster_ips: bool = True,
        bind_lb_ips: bool = True,
        scheduler: str = "rr",
        udp_idle_timeout: float = DEFAULT_UDP_IDLE_TIMEOUT,
        min_sync_period: float = 0.0,
        sync_period: float = 30.0,
        metrics_addr: str | None = DEFAULT_METRICS_ADDR,
        healthz_addr: str | None | object = _DEFAULT,
        tcp_options: TcpOptions | None = None,
        bind_retry_interval: float = 2.0,
        health_timeout: float = 60.0,
    ) -> None:
        self.client = client
        self.node_name = node_name
        self.node_ips = list(node_ips)
        if healthz_addr is _DEFAULT:
            healthz_addr = f"{self.node_ips[0] if self.node_ips else '0.0.0.0'}:{DEFAULT_HEALTHZ_PORT}"
        self.metrics_addr = metrics_addr
        self.healthz_addr: str | None = healthz_addr  # type: ignore[assignment]
        self.proxier = UserspaceProxier(
            NodeConfig(
                node_name=node_name,
                node_ips=tuple(self.node_ips),
                bind_cluster_ips=bind_cluster_ips,
                bind_lb_ips=bind_lb_ips,
                default_scheduler=scheduler,
            ),
            udp_idle_timeout=udp_idle_timeout,
            tcp_options=tcp_options,
            bind_retry_interval=bind_retry_interval,
            health_timeout=health_timeout,
        )
        self.runner = BoundedFrequencyRunner(
            f"proxy-{node_name}", self._sync, min_interval=min_sync_period, retry_interval=1.0, max_interval=sync_period
        )
        self.proxier.request_sync = self.runner.run
        self.services = Informer(client, "services", name=f"{node_name}-services")
        self.slices = Informer(client, "endpointslices", name=f"{node_name}-endpointslices")
        self.node = Informer(client, "nodes", field_selector=f"metadata.name={node_name}", name=f"{node_name}-node")
        self.services.add_handler(
            lambda o: self._changed(self.proxier.on_service(None, o)),
            lambda old, new: self._changed(self.proxier.on_service(old, new)),
            lambda o: self._changed(self.proxier.on_service(o, None)),
        )
        self.slices.add_handler(
            lambda o: self._changed(self.proxier.on_endpoint_slice(o, False)),
            lambda old, new: self._changed(self.proxier.on_endpoint_slice(new, False)),
            lambda o: self._changed(self.proxier.on_endpoint_slice(o, True)),
        )
        self.node.add_handler(
            lambda o: self._changed(self.proxier.on_node(o)),
            lambda old, new: self._changed(self.proxier.on_node(new)),
            lambda o: self._changed(self.proxier.on_node(None)),
        )
        self._servers: dict[str, HttpServer] = {}
        self.server_errors: dict[str, str] = {}
        self._tasks: list[asyncio.Task] = []
        self._ready = asyncio.Event()
        self._synced_once = asyncio.Event()
        self._stopped = asyncio.Event()

    async def _sync(self) -> None:
        await self.proxier.sync()
        self._synced_once.set()

    def _changed(self, changed: bool) -> None:
        if changed:
            self.runner.run()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, timeout: float | None = 30.0) -> None:
        """Start informers and side servers; return after the first sync. Raises TimeoutError
        if the informers do not sync within ``timeout``."""
        raise_nofile_limit()
        for inf in (self.services, self.slices, self.node):
            inf.start()
        await self._serve("metrics", self.metrics_addr, self._metrics)
        await self._serve("healthz", self.healthz_addr, self._healthz)
        for inf in (self.services, self.slices, self.node):
            if not await inf.wait_synced(timeout):
                raise TimeoutError(f"proxy {self.node_name}: informer {inf.name} did not sync")
        self.runner.run()
        task = asyncio.get_running_loop().create_task(self.runner.loop(), name=f"proxy-{self.node_name}-sync")
        self._tasks.append(task)
        synced = asyncio.ensure_future(self._synced_once.wait())
        try:
            await asyncio.wait({task, synced}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            synced.cancel()
        if task.done():
            task.result()  # the runner died: raise its error
        if not self._synced_once.is_set():
            raise TimeoutError(f"proxy {self.node_name}: first sync did not complete")
        self._ready.set()
        log.info("proxy %s: ready (%d listeners)", self.node_name, len(self.proxier.listeners))

    async def run(self) -> None:
        """Start and serve until :meth:`stop`."""
        if not self._ready.is_set():
            await self.start()
        await self._stopped.wait()

    async def wait_ready(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def stop(self, *, drain: bool = False) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        for inf in (self.services, self.slices, self.node):
            await inf.stop()
        await self.proxier.close(drain=drain)
        for srv in self._servers.values():
            await srv.close()
        self._servers.clear()
        self._stopped.set()

    async def sync_now(self) -> None:
        """Run one sync right away (tests and tools)."""
        await self.proxier.sync()

    # -- side servers -------------------------------------------------------------------------

    async def _serve(self, what: str, addr: str | None, handler) -> None:  # type: ignore[no-untyped-def]
        if not addr:
            return
        host, port = split_addr(addr)
        srv = HttpServer(host, port, handler, name=f"{what} {addr}")
        try:
            await srv.start()
        except OSError as e:
            self.server_errors[what] = f"{addr}: {e.strerror or e}"
            log.warning("proxy %s: cannot serve %s on %s: %s", self.node_name, what, addr, e)
            return
        self._servers[what] = srv

    def _metrics(self, method: str, path: str) -> Response:
        if path != "/metrics":
            return 404, {}, b"404 page not found\n"
        return 200, {"Content-Type": CONTENT_TYPE}, self.proxier.metrics.render()

    def _healthz(self, method: str, path: str) -> Response:
        if path == "/healthz":
            return self.proxier.healthz()
        if path == "/livez":
            return self.proxier.livez()
        return 404, {}, b"404 page not found\n"

    @property
    def metrics_address(self) -> str | None:
        srv = self._servers.get("metrics")
        return srv.address if srv else None

    @property
    def healthz_address(self) -> str | None:
        srv = self._servers.get("healthz")
        return srv.address if srv else None

    def status(self) -> dict:
        st = self.proxier.status()
        st["ready"] = self._ready.is_set()
        st["metrics"] = self.metrics_address
        st["healthz"] = self.healthz_address
        st["server_errors"] = dict(self.server_errors)
        st["runner"] = {"syncs": self.runner.syncs, "failures": self.runner.failures}
        return st
