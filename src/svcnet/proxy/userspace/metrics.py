"""Prometheus metrics of a userspace proxy (or of the cloud LB, which uses the same engine).

Theory of operation
-------------------
The data plane counts into plain-int :class:`~svcnet.proxy.userspace.balancer.Stats` objects
(one per service port, one per endpoint): an attribute add per chunk, no lock, no label
lookup. :class:`DataPlaneCollector` turns them into metric families at scrape time, so the hot
path never touches ``prometheus_client``. Each proxier has its own ``CollectorRegistry`` (many
node agents may run in one process).

Families (``<prefix>`` is ``svcnet_proxy`` for the node proxy); labels ``service`` (upstream's
``ns/name:port``), ``protocol`` and, per endpoint, ``endpoint`` (``ip:port``):

- ``<prefix>_connections_total``, ``<prefix>_active_connections``,
  ``<prefix>_bytes_in_total`` (client to endpoint), ``<prefix>_bytes_out_total``,
  ``<prefix>_connect_failures_total``, ``<prefix>_retries_total``,
  ``<prefix>_packets_in_total``, ``<prefix>_packets_out_total`` (UDP) -- per service port;
- the same with ``<prefix>_endpoint_`` in front of the name -- per endpoint;
- ``<prefix>_listener_bind_errors_total`` and ``<prefix>_listener_bind_failing`` (per
  listener), ``<prefix>_listeners``;
- ``<prefix>_sync_total`` and ``<prefix>_sync_duration_seconds`` (histogram).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from svcnet.proxy.userspace.balancer import Stats

__all__ = ["CONTENT_TYPE", "DataPlaneCollector", "ProxyMetrics", "StatsRow"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: (labels, stats): labels are (service, protocol) or (service, protocol, endpoint)
StatsRow = tuple[tuple[str, ...], Stats]

_COUNTERS = (
    ("connections", "connections", "Connections (TCP) or sessions (UDP) established"),
    ("bytes_in", "bytes_in", "Bytes forwarded from clients to endpoints"),
    ("bytes_out", "bytes_out", "Bytes forwarded from endpoints to clients"),
    ("connect_failures", "connect_failures", "Connect attempts to an endpoint that failed"),
    ("retries", "retries", "Connect attempts retried on another endpoint"),
    ("packets_in", "packets_in", "UDP datagrams forwarded from clients to endpoints"),
    ("packets_out", "packets_out", "UDP datagrams forwarded from endpoints to clients"),
)


class DataPlaneCollector(Collector):
    """Reads service-port and endpoint :class:`Stats` and listener errors at scrape time."""

    def __init__(
        self,
        prefix: str,
        services: Callable[[], Iterable[StatsRow]],
        endpoints: Callable[[], Iterable[StatsRow]],
        bind_errors: Callable[[], Iterable[tuple[str, int, bool]]],
        listeners: Callable[[], int],
        *,
        before: Callable[[], None] | None = None,
        service_labels: tuple[str, ...] = ("service", "protocol"),
        endpoint_labels: tuple[str, ...] = ("service", "protocol", "endpoint"),
    ) -> None:
        self.prefix = prefix
        self.services = services
        self.endpoints = endpoints
        self.bind_errors = bind_errors
        self.listeners = listeners
        self.before = before
        self.service_labels = list(service_labels)
        self.endpoint_labels = list(endpoint_labels)

    def _families(self, name: str, labels: list[str], rows: list[StatsRow]):  # type: ignore[no-untyped-def]
        for attr, short, doc in _COUNTERS:
            fam = CounterMetricFamily(f"{name}_{short}", doc, labels=labels)
            for lv, st in rows:
                fam.add_metric(list(lv), getattr(st, attr))
            yield fam
        g = GaugeMetricFamily(f"{name}_active_connections", "Open connections (TCP) or sessions (UDP)", labels=labels)
        for lv, st in rows:
            g.add_metric(list(lv), st.active)
        yield g

    def collect(self):  # type: ignore[no-untyped-def]
        p = self.prefix
        if self.before is not None:
            self.before()  # e.g. move bytes counted by open connections into the stats
        yield from self._families(p, self.service_labels, list(self.services()))
        yield from self._families(f"{p}_endpoint", self.endpoint_labels, list(self.endpoints()))
        errs = CounterMetricFamily(f"{p}_listener_bind_errors", "Failed attempts to bind a listener", labels=["listener"])
        failing = GaugeMetricFamily(f"{p}_listener_bind_failing", "1 while a listener cannot be bound", labels=["listener"])
        for name, count, now_failing in self.bind_errors():
            errs.add_metric([name], count)
            failing.add_metric([name], 1 if now_failing else 0)
        yield errs
        yield failing
        yield GaugeMetricFamily(f"{p}_listeners", "Listeners open", value=self.listeners())


class ProxyMetrics:
    """A registry with the data-plane collector and the sync metrics."""

    def __init__(self, prefix: str = "svcnet_proxy") -> None:
        self.prefix = prefix
        self.registry = CollectorRegistry(auto_describe=False)
        self.syncs = Counter(f"{prefix}_sync", "Syncs of the data plane", registry=self.registry)
        self.sync_duration = Histogram(
            f"{prefix}_sync_duration_seconds",
            "Duration of a data plane sync",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )

    def attach(self, collector: Collector) -> None:
        self.registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)
