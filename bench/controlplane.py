"""Control plane at scale: 10,000 Services with 10 ready Pods each, in one process.

The API pipeline (:class:`~svcnet.apiserver.registry.Registry` over a SQLite store: defaulting,
validation, ClusterIP allocation) and the EndpointSlice controller (informers + work queue over
the in-process transport) share one event loop, as in ``svcnet up``. Steps:

1. **create**: ``--nodes`` Nodes, then per Service: the Service, its Pods (``spec.nodeName``
   set) and each Pod's status (Running, podIP, Ready) through the status subresource - while
   the controller keeps up. Reported: objects/s (Services + Pods; a Pod is two writes).
2. **converge**: the time until every Service's slices list all its Pods as ready.
3. **readiness flips**: ``--flips`` times, a random ready Pod is made not-ready (or back) through
   the status subresource; the latency is from just before that write to the watch event that
   carries the updated EndpointSlice (a separate watch on endpointslices). p50/p99.
4. **footprint**: RSS of the process (current and peak) and the SQLite file size (db + WAL).

    python bench/controlplane.py                 # 10,000 Services x 10 Pods (several minutes)
    python bench/controlplane.py --services 500  # quick
    python bench/controlplane.py --profile out.prof

Services are spread over ``--namespaces`` namespaces (100 Services each by default), as in a
real cluster: the controller's per-Pod work scales with the Services of the Pod's namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

from svcnet.apiserver.registry import ClusterConfig, Registry  # noqa: E402
from svcnet.client.base import Client  # noqa: E402
from svcnet.client.inprocess import InProcessTransport  # noqa: E402
from svcnet.controllers.endpointslice import EndpointSliceController  # noqa: E402
from svcnet.store.sqlite import SqliteStore  # noqa: E402

SERVICE_LABEL = "kubernetes.io/service-name"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))] if s else float("nan")


def service(ns: str, i: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"svc-{i}", "namespace": ns, "labels": {"app": f"app-{i}"}},
        "spec": {"selector": {"app": f"app-{i}"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }


def pod(ns: str, i: int, j: int, node: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"app-{i}-{j}", "namespace": ns, "labels": {"app": f"app-{i}", "pod-template-hash": "5d4f8c7b9"}},
        "spec": {
            "nodeName": node,
            "containers": [{
                "name": "app",
                "image": "registry.example/app:1.0",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 5},
            }],
        },
    }


def pod_ip(n: int) -> str:
    return f"10.{64 + n // 65536}.{n // 256 % 256}.{n % 256}"


def set_status(p: dict, ip: str, ready: bool) -> dict:
    flag = "True" if ready else "False"
    p["status"].update(
        phase="Running",
        podIP=ip,
        podIPs=[{"ip": ip}],
        hostIP="192.168.0.1",
        conditions=[
            {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "Ready", "status": flag, "lastProbeTime": None, "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "ContainersReady", "status": flag, "lastProbeTime": None, "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-01-01T00:00:00Z"},
        ],
        containerStatuses=[{"name": "app", "ready": ready, "started": True, "restartCount": 0,
                            "image": "registry.example/app:1.0", "imageID": "", "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}],
    )
    return p


class SliceWatch:
    """A watch on every EndpointSlice: the ready state of each address as last seen, and
    futures resolved when an address reaches a wanted state."""

    def __init__(self, client: Client):
        self.client = client
        self.ready: dict[str, bool] = {}
        self.per_service: dict[tuple[str, str], dict[str, bool]] = {}
        self.waiters: dict[tuple[str, bool], asyncio.Future] = {}
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        lst = await self.client.list("endpointslices", all_namespaces=True)
        for s in lst["items"]:
            self._apply(s, deleted=False)
        self.task = asyncio.ensure_future(self._run(lst["metadata"]["resourceVersion"]))

    async def _run(self, rv: str) -> None:
        async for f in self.client.watch("endpointslices", resource_version=rv):
            if f["type"] in ("ADDED", "MODIFIED", "DELETED"):
                self._apply(f["object"], deleted=f["type"] == "DELETED")

    def _apply(self, s: dict, *, deleted: bool) -> None:
        md = s["metadata"]
        svc = (md.get("namespace", ""), (md.get("labels") or {}).get(SERVICE_LABEL, ""))
        addrs = self.per_service.setdefault(svc, {})
        for e in s.get("endpoints") or []:
            for a in e.get("addresses") or []:
                r = bool((e.get("conditions") or {}).get("ready"))
                if deleted:
                    addrs.pop(a, None)
                    continue
                addrs[a] = r
                self.ready[a] = r
                fut = self.waiters.pop((a, r), None)
                if fut is not None and not fut.done():
                    fut.set_result(time.perf_counter())

    def wait(self, addr: str, ready: bool) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        if self.ready.get(addr) is ready:
            fut.set_result(time.perf_counter())
        else:
            self.waiters[(addr, ready)] = fut
        return fut

    def ready_services(self, pods_per_service: int) -> int:
        return sum(1 for addrs in self.per_service.values() if len(addrs) == pods_per_service and all(addrs.values()))


async def run(args: argparse.Namespace) -> list[tuple[str, str]]:
    workdir = args.dir or tempfile.mkdtemp(prefix="svcnet-bench-cp-")
    path = os.path.join(workdir, "state.db")
    store = SqliteStore(path)
    registry = Registry(store, ClusterConfig(service_cidrs=("10.96.0.0/12",)))
    registry.bootstrap()
    client = Client(InProcessTransport(registry))
    ctl = EndpointSliceController(client, workers=args.workers)
    ctl_task = asyncio.ensure_future(ctl.run())
    rows: list[tuple[str, str]] = []
    rss0 = rss_mb()
    try:
        n, per = args.services, args.pods_per_service
        namespaces = [f"ns-{k}" for k in range((n + args.per_namespace - 1) // args.per_namespace)]
        for ns in namespaces:
            await client.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        nodes = [f"node-{k}" for k in range(args.nodes)]
        for k, nd in enumerate(nodes):
            await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": nd, "labels": {"topology.kubernetes.io/zone": f"zone-{k % 3}"}}})
        watch = SliceWatch(client)
        await watch.start()

        # -- 1. create -------------------------------------------------------------------
        t0 = time.perf_counter()
        ips: list[tuple[str, str, str]] = []  # (namespace, pod name, ip)
        writes = 0
        last_report = t0
        for i in range(n):
            ns = namespaces[i // args.per_namespace]
            await client.create("services", service(ns, i))
            writes += 1
            for j in range(per):
                p = await client.create("pods", pod(ns, i, j, nodes[(i * per + j) % len(nodes)]))
                ip = pod_ip(i * per + j)
                await client.update_status("pods", set_status(p, ip, True))
                ips.append((ns, p["metadata"]["name"], ip))
                writes += 2
            await asyncio.sleep(0)  # let the controller and the watch run between Services
            now = time.perf_counter()
            if now - last_report > 10:
                last_report = now
                print(f"  {i + 1:,} services, {(i + 1) * per:,} pods, {writes / (now - t0):,.0f} writes/s, "
                      f"{watch.ready_services(per):,} services converged, RSS {rss_mb():,.0f} MB", file=sys.stderr)
        t_created = time.perf_counter()
        create_s = t_created - t0
        objects = n * (1 + per)
        rows.append((f"create {n:,} Services + {n * per:,} Pods (status via subresource)",
                     f"{objects / create_s:,.0f} objects/s ({n / create_s:,.0f} Services/s, {n * per / create_s:,.0f} Pods/s; "
                     f"{writes / create_s:,.0f} writes/s; {create_s:,.1f} s)"))

        # -- 2. converge -----------------------------------------------------------------
        deadline = time.perf_counter() + args.converge_timeout
        while watch.ready_services(per) < n and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        done = watch.ready_services(per)
        t_conv = time.perf_counter()
        rows.append(("all EndpointSlices ready (after the last write)",
                     f"{t_conv - t_created:,.1f} s ({done:,}/{n:,} Services; {t_conv - t0:,.1f} s from the first write; {ctl.syncs:,} syncs)"))

        # -- 3. readiness flips ----------------------------------------------------------
        rng = random.Random(7)
        lat: list[float] = []
        timeouts = 0
        for ns, name, ip in rng.sample(ips, min(args.flips, len(ips))):
            want = not watch.ready.get(ip, True)
            p = await client.get("pods", name, ns)
            fut = watch.wait(ip, want)
            t = time.perf_counter()
            await client.update_status("pods", set_status(p, ip, want))
            try:
                t_seen = await asyncio.wait_for(fut, 10)
            except asyncio.TimeoutError:
                timeouts += 1
                watch.waiters.pop((ip, want), None)
                continue
            lat.append(t_seen - t)
        rows.append((f"Pod readiness change -> EndpointSlice watch event ({len(lat)} flips)",
                     f"p50 {pct(lat, 50) * 1e3:.1f} ms, p99 {pct(lat, 99) * 1e3:.1f} ms, max {max(lat, default=float('nan')) * 1e3:.1f} ms"
                     + (f" ({timeouts} timed out)" if timeouts else "")))

        # -- 4. footprint ----------------------------------------------------------------
        size = sum(os.path.getsize(path + sfx) for sfx in ("", "-wal") if os.path.exists(path + sfx))
        rows.append(("RSS (current / peak)", f"{rss_mb():,.0f} MB / {peak_rss_mb():,.0f} MB (at start {rss0:,.0f} MB)"))
        rows.append(("SQLite file (db + WAL)", f"{size / 2**20:,.0f} MB ({store.revision():,} revisions, events kept: {store.history:,})"))
        if watch.task is not None:
            watch.task.cancel()
    finally:
        ctl_task.cancel()
        try:
            await ctl_task
        except (asyncio.CancelledError, Exception):
            pass
        store.close()
        if not args.dir:
            for sfx in ("", "-wal", "-shm", ".lock"):
                try:
                    os.unlink(path + sfx)
                except FileNotFoundError:
                    pass
            os.rmdir(workdir)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--pods-per-service", type=int, default=10)
    ap.add_argument("--per-namespace", type=int, default=100, help="Services per namespace")
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--flips", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2, help="EndpointSlice controller workers")
    ap.add_argument("--converge-timeout", type=float, default=600)
    ap.add_argument("--dir", default="", help="keep the state file here")
    ap.add_argument("--profile", default="", help="write a cProfile of the run here")
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        rows = prof.runcall(asyncio.run, run(args))
        prof.dump_stats(args.profile)
    else:
        rows = asyncio.run(run(args))
    width = max(len(r[0]) for r in rows)
    print(f"\nsvcnet control plane in one process: Registry + SQLite + EndpointSlice controller ({os.cpu_count()} CPUs)")
    print(f"{'measurement'.ljust(width)}  result")
    print(f"{'-' * width}  {'-' * 60}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    print(f"(total {time.perf_counter() - t0:,.0f} s; load average before {load0:.2f}, after {os.getloadavg()[0]:.2f}: other processes on this machine skew the figures)")


if __name__ == "__main__":
    main()
