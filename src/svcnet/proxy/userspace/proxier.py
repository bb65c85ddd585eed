"""The userspace proxier: applies watched changes to listeners, balancers and health checks.

Theory of operation
-------------------
Informer handlers feed :meth:`UserspaceProxier.on_service` and
:meth:`UserspaceProxier.on_endpoint_slice` (the upstream change trackers; they return whether
a sync is needed and never touch sockets). :meth:`UserspaceProxier.sync` -- called by the
node agent's :class:`~svcnet.proxy.runner.BoundedFrequencyRunner`, never on a timer of its
own -- then:

1. applies the pending changes to the ``ServicePortMap`` / ``EndpointsMap``;
2. computes the desired state with the pure :func:`~svcnet.proxy.userspace.plan.plan`;
3. updates the :class:`~svcnet.proxy.userspace.balancer.Balancer` of each (service port,
   policy) -- ``sync_dests`` with removed endpoints quiesced, so they drain -- creates new
   ones and retires vanished ones (their open connections drain too);
4. closes listeners that are no longer wanted (accepted TCP connections live on), repoints
   kept ones at their balancer and opens new ones;
5. opens, updates or closes the ``healthCheckNodePort`` servers.

**Bind failures** (``EADDRINUSE``, ``EACCES``, ``EADDRNOTAVAIL``) never stop a sync: each is
recorded per listener (:meth:`status`, metric ``svcnet_proxy_listener_bind_failing``), logged
once per distinct error, and retried on later syncs; while any failure remains, the proxier
asks for another sync after ``bind_retry_interval`` through ``request_sync``.

**Health** (upstream ``proxier_health.go``): the proxy is healthy unless a change has waited
more than ``health_timeout`` seconds for a sync; the node agent's ``/healthz`` and every
health-check answer use it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from svcnet.proxy.model import (
    EndpointsChangeTracker,
    EndpointsMap,
    ServiceChangeTracker,
    ServicePortMap,
)
from svcnet.proxy.userspace.balancer import Balancer, Stats
from svcnet.proxy.userspace.httpserve import HttpServer, Response
from svcnet.proxy.userspace.metrics import DataPlaneCollector, ProxyMetrics
from svcnet.proxy.userspace.pipes import PipePool
from svcnet.proxy.userspace.plan import BalancerKey, ListenerKey, ListenerSpec, NodeConfig, Plan, plan
from svcnet.proxy.userspace.relay import UNAVAILABLE_REASON, engine_name
from svcnet.proxy.userspace.tcp import TcpListener, TcpOptions
from svcnet.proxy.userspace.udp import DEFAULT_UDP_IDLE_TIMEOUT, UdpListener

__all__ = ["BindFailure", "UserspaceProxier"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class BindFailure:
    name: str
    error: str
    errno: int | None
    count: int = 1
    failing: bool = True


class _HealthCheck:
    """The servers of one LB + ETP Local service on its healthCheckNodePort."""

    def __init__(self, namespace: str, name: str, port: int) -> None:
        self.namespace = namespace
        self.name = name
        self.port = port
        self.count = 0
        self.servers: dict[str, HttpServer] = {}


class UserspaceProxier:
    def __init__(
        self,
        node: NodeConfig,
        *,
        udp_idle_timeout: float = DEFAULT_UDP_IDLE_TIMEOUT,
        tcp_options: TcpOptions | None = None,
        bind_retry_interval: float = 2.0,
        health_timeout: float = 60.0,
        family: str = "IPv4",
        metrics: ProxyMetrics | None = None,
        request_sync: Callable[[], None] | None = None,
    ) -> None:
        self.node = node
        self.udp_idle_timeout = udp_idle_timeout
        self.tcp_options = tcp_options or TcpOptions()
        #: who relays TCP bytes here, "c" or "python" (ValueError now, not at the first bind)
        self.tcp_engine = engine_name(self.tcp_options.engine)
        if self.tcp_engine == "c":
            log.debug("userspace proxy: TCP relayed by the compiled relay")
        elif self.tcp_options.engine == "auto":
            log.info("userspace proxy: TCP relayed by the Python pumps (the compiled relay was not built: %s)", UNAVAILABLE_REASON)
        self.bind_retry_interval = bind_retry_interval
        self.health_timeout = health_timeout
        self.request_sync = request_sync
        self.service_tracker = ServiceChangeTracker(family)
        self.endpoints_tracker = EndpointsChangeTracker(family, node.node_name)
        self.service_map = ServicePortMap()
        self.endpoints_map = EndpointsMap()
        self.balancers: dict[BalancerKey, Balancer] = {}
        self.listeners: dict[ListenerKey, TcpListener | UdpListener] = {}
        self.specs: dict[ListenerKey, ListenerSpec] = {}
        self.health_checks: dict[tuple[str, str], _HealthCheck] = {}
        self.failures: dict[str, BindFailure] = {}
        self.last_plan: Plan | None = None
        self.pipes = PipePool(self.tcp_options.pipe_size)
        self.syncs = 0
        self.last_sync: float | None = None  # wall clock of the last successful sync
        self.pending_since: float | None = None  # monotonic time of the oldest unsynced change
        self.node_eligible = True
        self._retry: asyncio.TimerHandle | None = None
        self._retired: list[Balancer] = []
        #: closed TCP listeners whose accepted connections are still open
        self._draining: list[TcpListener | UdpListener] = []
        self.metrics = metrics or ProxyMetrics()
        self.metrics.attach(
            DataPlaneCollector(
                self.metrics.prefix,
                self._service_rows,
                self._endpoint_rows,
                lambda: [(f.name, f.count, f.failing) for f in self.failures.values()],
                lambda: sum(1 for lis in self.listeners.values() if lis.listening),
                before=self.flush_stats,
            )
        )

    # -- change intake (informer handlers; no I/O) ----------------------------------------------

    def _queued(self, changed: bool) -> bool:
        if changed and self.pending_since is None:
            self.pending_since = time.monotonic()
        return changed

    def on_service(self, previous: dict | None, current: dict | None) -> bool:
        return self._queued(self.service_tracker.update(previous, current))

    def on_endpoint_slice(self, slice_obj: dict, removed: bool = False) -> bool:
        return self._queued(self.endpoints_tracker.endpoint_slice_update(slice_obj, removed))

    def on_node(self, node: dict | None) -> bool:
        """This node's object changed: topology labels and eligibility (upstream SyncNode)."""
        md = (node or {}).get("metadata") or {}
        taints = ((node or {}).get("spec") or {}).get("taints") or []
        self.node_eligible = node is not None and not md.get("deletionTimestamp") and not any(
            t.get("key") == "ToBeDeletedByClusterAutoscaler" for t in taints
        )
        labels = dict(md.get("labels") or {})
        if labels == dict(self.node.node_labels):
            return False
        self.node = replace(self.node, node_labels=labels)
        return self._queued(True)

    # -- health --------------------------------------------------------------------------------

    def healthy(self) -> bool:
        since = self.pending_since
        return since is None or time.monotonic() - since < self.health_timeout

    def healthz(self) -> Response:
        """kube-proxy's ``/healthz`` answer."""
        healthy = self.healthy() and self.node_eligible
        now = _go_time(time.time())
        last = now if healthy else (_go_time(self.last_sync) if self.last_sync else "0001-01-01 00:00:00 +0000 UTC")
        body = f'{{"lastUpdated": "{last}","currentTime": "{now}", "nodeEligible": {str(self.node_eligible).lower()}}}'
        headers = {"Content-Type": "application/json", "X-Content-Type-Options": "nosniff"}
        return (200 if healthy else 503), headers, body.encode()

    def livez(self) -> Response:
        now = _go_time(time.time())
        body = f'{{"lastUpdated": "{now}","currentTime": "{now}"}}'
        headers = {"Content-Type": "application/json", "X-Content-Type-Options": "nosniff"}
        return (200 if self.healthy() else 503), headers, body.encode()

    # -- sync ---------------------------------------------------------------------------------

    async def sync(self) -> None:
        t0 = time.perf_counter()
        since, self.pending_since = self.pending_since, None
        try:
            self.service_map.update(self.service_tracker)
            self.endpoints_map.update(self.endpoints_tracker)
            p = plan(self.service_map, self.endpoints_map, self.node)
            self._sync_balancers(p)
            self._sync_listeners(p)
            await self._sync_health_checks(p)
        except BaseException:
            if since is not None and (self.pending_since is None or since < self.pending_since):
                self.pending_since = since
            raise
        for w in p.warnings:
            if self.last_plan is None or w not in self.last_plan.warnings:
                log.warning("proxy %s: %s", self.node.node_name, w)
        self.last_plan = p
        self.syncs += 1
        self.last_sync = time.time()
        self.metrics.syncs.inc()
        self.metrics.sync_duration.observe(time.perf_counter() - t0)
        self._schedule_retry()

    def _sync_balancers(self, p: Plan) -> None:
        for key, spec in p.balancers.items():
            b = self.balancers.get(key)
            if b is None:
                self.balancers[key] = Balancer(spec)
            elif b.spec != spec:
                b.update(spec)
            b = self.balancers[key]
            b.expire()
        for key in [k for k in self.balancers if k not in p.balancers]:
            b = self.balancers.pop(key)
            b.retire()
            self._retired.append(b)
        # retired balancers stay visible (metrics, draining) until their connections end
        self._retired = [b for b in self._retired if b.stats.active > 0]

    def _open(self, spec: ListenerSpec) -> TcpListener | UdpListener:
        b = self.balancers[spec.balancer]
        name = f"{spec.protocol} {spec.ip}:{spec.port}"
        if spec.protocol == "UDP":
            return UdpListener(spec.ip, spec.port, b, idle_timeout=self.udp_idle_timeout, name=name)
        return TcpListener(spec.ip, spec.port, b, options=self.tcp_options, pipes=self.pipes,
                           source_ranges=spec.source_ranges, name=name)

    def _sync_listeners(self, p: Plan) -> None:
        for key in [k for k in self.listeners if k not in p.listeners]:
            lis = self.listeners.pop(key)
            lis.close()
            if lis.sessions:
                self._draining.append(lis)
            self.specs.pop(key, None)
            log.info("proxy %s: closed %s %s:%d", self.node.node_name, *key)
        self._draining = [lis for lis in self._draining if lis.sessions]
        for key, spec in p.listeners.items():
            lis = self.listeners.get(key)
            if lis is not None:
                lis.picker = self.balancers[spec.balancer]
                if isinstance(lis, TcpListener) and lis.source_ranges != spec.source_ranges:
                    lis.set_source_ranges(spec.source_ranges)
                self.specs[key] = spec
                continue
            lis = self._open(spec)
            try:
                lis.start()
            except OSError as e:
                self._failed(lis.name, e)
                continue
            self._bound(lis.name)
            self.listeners[key] = lis
            self.specs[key] = spec
            log.info("proxy %s: listening on %s for %s (%s)", self.node.node_name, lis.name, spec.service, spec.kind)
        wanted = {f"{k[0]} {k[1]}:{k[2]}" for k in p.listeners}
        self._forget_failures(lambda name: not name.startswith("healthcheck ") and name not in wanted)

    async def _sync_health_checks(self, p: Plan) -> None:
        for key in [k for k in self.health_checks if k not in p.health_checks]:
            await self._close_hc(self.health_checks.pop(key))
        for key, spec in p.health_checks.items():
            hc = self.health_checks.get(key)
            if hc is not None and hc.port != spec.port:
                await self._close_hc(self.health_checks.pop(key))
                hc = None
            if hc is None:
                hc = self.health_checks[key] = _HealthCheck(spec.namespace, spec.name, spec.port)
            hc.count = spec.local_endpoints
            for ip in spec.ips:
                if ip in hc.servers:
                    continue
                srv = HttpServer(ip, spec.port, self._hc_handler(hc), name=f"healthcheck {ip}:{spec.port}")
                try:
                    await srv.start()
                except OSError as e:
                    self._failed(srv.name, e)
                    continue
                self._bound(srv.name)
                hc.servers[ip] = srv
        wanted = {f"healthcheck {ip}:{s.port}" for s in p.health_checks.values() for ip in s.ips}
        self._forget_failures(lambda name: name.startswith("healthcheck ") and name not in wanted)

    async def _close_hc(self, hc: _HealthCheck) -> None:
        for srv in hc.servers.values():
            await srv.close()
        hc.servers.clear()

    def _hc_handler(self, hc: _HealthCheck) -> Callable[[str, str], Response]:
        def handler(method: str, path: str) -> Response:
            count = hc.count
            healthy = self.healthy()
            body = json.dumps(
                {"service": {"namespace": hc.namespace, "name": hc.name}, "localEndpoints": count, "serviceProxyHealthy": healthy},
                separators=(",", ":"),
            ).encode()
            headers = {
                "Content-Type": "application/json",
                "X-Content-Type-Options": "nosniff",
                "X-Load-Balancing-Endpoint-Weight": str(count),
            }
            return (200 if count and healthy else 503), headers, body

        return handler

    # -- bind failures ------------------------------------------------------------------------

    def _failed(self, name: str, e: OSError) -> None:
        f = self.failures.get(name)
        text = f"{e.strerror or e}" + (f" (errno {e.errno})" if e.errno else "")
        if f is None or not f.failing or f.errno != e.errno:
            log.warning("proxy %s: cannot bind %s: %s; will retry", self.node.node_name, name, text)
        if f is None:
            self.failures[name] = BindFailure(name, text, e.errno)
        else:
            f.count += 1
            f.error, f.errno, f.failing = text, e.errno, True

    def _bound(self, name: str) -> None:
        f = self.failures.get(name)
        if f is not None and f.failing:
            f.failing = False
            log.info("proxy %s: %s bound after %d failed attempts", self.node.node_name, name, f.count)

    def _forget_failures(self, gone: Callable[[str], bool]) -> None:
        for f in self.failures.values():
            if f.failing and gone(f.name):
                f.failing = False

    def _schedule_retry(self) -> None:
        if self._retry is not None or self.request_sync is None:
            return
        if not any(f.failing for f in self.failures.values()):
            return

        def fire() -> None:
            self._retry = None
            if self.request_sync is not None:
                self.request_sync()

        self._retry = asyncio.get_running_loop().call_later(self.bind_retry_interval, fire)

    # -- shutdown, introspection --------------------------------------------------------------

    async def close(self, *, drain: bool = False) -> None:
        """Close every listener and health server; unless ``drain``, reset open connections."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        for lis in [*self.listeners.values(), *self._draining]:
            if drain:
                lis.close()
            else:
                lis.close_all()
        self.listeners.clear()
        self._draining.clear()
        self.specs.clear()
        for hc in self.health_checks.values():
            await self._close_hc(hc)
        self.health_checks.clear()

    def flush_stats(self) -> None:
        """Bring byte counters of open connections up to date (before a scrape)."""
        for lis in self.listeners.values():
            lis.flush_stats()
        for lis in self._draining:
            lis.flush_stats()

    def _all_balancers(self) -> list[Balancer]:
        return list(self.balancers.values()) + self._retired

    def _service_rows(self):  # type: ignore[no-untyped-def]
        merged: dict[tuple[str, str], list] = {}
        for b in self._all_balancers():
            merged.setdefault((b.name, b.protocol), []).append(b.stats)
        for labels, stats in merged.items():
            yield labels, _sum_stats(stats)

    def _endpoint_rows(self):  # type: ignore[no-untyped-def]
        merged: dict[tuple[str, str, str], list] = {}
        for b in self._all_balancers():
            for t in b.targets:
                merged.setdefault((b.name, b.protocol, t.name), []).append(t.stats)
        for labels, stats in merged.items():
            yield labels, _sum_stats(stats)

    def status(self) -> dict:
        """What is listened on, what could not be bound and why, and what was skipped."""
        listeners = []
        for key, lis in sorted(self.listeners.items()):
            spec = self.specs.get(key)
            b = lis.picker
            listeners.append({
                "protocol": key[0],
                "ip": key[1],
                "port": lis.port,
                "kind": spec.kind if spec else "",
                "service": str(spec.service) if spec else "",
                "policy": spec.balancer[1] if spec else "",
                "scheduler": b.vs.scheduler.name if isinstance(b, Balancer) and b.vs.scheduler else "",
                "endpoints": [t.name for t in b.active_targets] if isinstance(b, Balancer) else [],
                "sessions": len(lis.sessions),
            })
        p = self.last_plan
        return {
            "node": self.node.node_name,
            "tcpEngine": self.tcp_engine,
            "syncs": self.syncs,
            "healthy": self.healthy(),
            "listeners": listeners,
            "bind_errors": {f.name: f.error for f in self.failures.values() if f.failing},
            "skipped": [
                {"service": str(s.service), "protocol": s.protocol, "ip": s.ip, "port": s.port, "kind": s.kind, "reason": s.reason}
                for s in (p.skipped if p else ())
            ],
            "warnings": list(p.warnings) if p else [],
            "health_checks": {
                f"{hc.namespace}/{hc.name}": {"port": hc.port, "localEndpoints": hc.count, "bound": sorted(hc.servers)}
                for hc in self.health_checks.values()
            },
        }


def _sum_stats(stats: list[Stats]) -> Stats:
    if len(stats) == 1:
        return stats[0]
    out = Stats()
    for st in stats:
        for k in Stats.__slots__:
            setattr(out, k, getattr(out, k) + getattr(st, k))
    return out


def _go_time(ts: float) -> str:
    """Go's ``time.Time.String()`` in UTC, as kube-proxy's healthz JSON shows it."""
    t = time.gmtime(ts)
    frac = f"{ts % 1:.9f}"[1:].rstrip("0").rstrip(".")
    return time.strftime("%Y-%m-%d %H:%M:%S", t) + frac + " +0000 UTC"
