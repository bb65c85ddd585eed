"""Cluster DNS throughput with dnsperf: QPS, latency, server CPU per core, index memory.

The workload is a cluster of 10,000 Services (80% ClusterIP, 20% headless) in 100 namespaces,
with 100,000 ready endpoints (10 per service) in EndpointSlices, fed through
``ClusterIndex.apply`` as Kubernetes JSON. The query mix is what pods send (``reference/dns.md``
§2.8): A for ClusterIP services, AAAA for the same (NODATA: glibc asks both), SRV, headless A,
PTR for ClusterIPs and endpoints, and the NXDOMAIN shapes a pod's search path generates
(``name.ns.<own-ns>.svc.cluster.local``, ``example.com.<ns>.svc.cluster.local``,
``example.com.svc.cluster.local``, ``example.com.cluster.local``). Nothing is forwarded.

The server runs in this process (uvloop if installed) on 127.0.0.1; dnsperf runs as a child
process, first once through the query file (warm-up: every distinct query is a cache miss once),
then for ``--seconds``. Server CPU is this process's CPU time over the measured run (dnsperf's
is not included); "per core" = QPS / (server CPU seconds / wall seconds). With ``--workers N``
the server runs as N processes sharing the port with SO_REUSEPORT, each with its own index.

    python bench/dns.py                          # 10 s, 4 clients, dnsperf -Q 100000
    python bench/dns.py --seconds 20 --clients 8 --max-qps 200000
    python bench/dns.py --workers 2              # SO_REUSEPORT multi-process
    python bench/dns.py --services 1000 --endpoints-per-service 10 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import re
import resource
import shutil
import sys
import tempfile
import time

# This file is bench/dns.py: its directory must not be on sys.path, or it shadows dnspython's "dns".
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.join(_HERE, "..", "src"))

from svcnet.dns.config import DNSConfig  # noqa: E402
from svcnet.dns.index import ClusterIndex  # noqa: E402
from svcnet.dns.server import DNSServer  # noqa: E402

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None

NAMESPACES = 100


def svc_ip(i: int) -> str:
    return f"10.96.{i // 250}.{i % 250 + 1}"


def ep_ip(i: int, j: int) -> str:
    n = i * 64 + j
    return f"10.{244 + n // 65536}.{(n // 256) % 256}.{n % 256}"


def objects(services: int, per_service: int):
    """Kubernetes JSON objects, generated lazily (only the index keeps anything)."""
    for i in range(services):
        ns = f"ns-{i % NAMESPACES}"
        headless = i % 5 == 4
        ip = "None" if headless else svc_ip(i)
        yield "Service", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"svc-{i}", "namespace": ns, "uid": f"uid-{i}", "labels": {"app": f"app-{i}"}},
            "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "selector": {"app": f"app-{i}"},
                     "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                               {"name": "metrics", "protocol": "TCP", "port": 9090, "targetPort": 9090}]},
            "status": {"loadBalancer": {}},
        }
        yield "EndpointSlice", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": f"svc-{i}-abcde", "namespace": ns,
                         "labels": {"kubernetes.io/service-name": f"svc-{i}", "endpointslice.kubernetes.io/managed-by": "x"}},
            "endpoints": [
                {"addresses": [ep_ip(i, j)], "conditions": {"ready": True, "serving": True, "terminating": False},
                 "nodeName": f"node-{j % 50}", "targetRef": {"kind": "Pod", "namespace": ns, "name": f"app-{i}-{j:04d}"}}
                for j in range(per_service)
            ],
            "ports": [{"name": "http", "protocol": "TCP", "port": 8080}, {"name": "metrics", "protocol": "TCP", "port": 9090}],
        }


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build_index(services: int, per_service: int) -> tuple[ClusterIndex, float, int]:
    gc.collect()
    before = rss_bytes()
    t0 = time.perf_counter()
    index = ClusterIndex()
    for kind, obj in objects(services, per_service):
        index.apply(kind, "ADDED", obj)
    index.mark_synced()
    took = time.perf_counter() - t0
    gc.collect()
    return index, took, rss_bytes() - before


def query_file(path: str, services: int, per_service: int, lines: int, seed: int = 1) -> dict[str, int]:
    rng = random.Random(seed)
    mix = {"A": 0, "AAAA-nodata": 0, "SRV": 0, "headless-A": 0, "PTR": 0, "NXDOMAIN-search": 0}
    with open(path, "w") as f:
        for _ in range(lines):
            i = rng.randrange(services)
            ns = f"ns-{i % NAMESPACES}"
            own = f"ns-{rng.randrange(NAMESPACES)}"
            headless = i % 5 == 4
            r = rng.random()
            if r < 0.30:
                kind = "headless-A" if headless else "A"
                f.write(f"svc-{i}.{ns}.svc.cluster.local A\n")
            elif r < 0.40:
                kind = "AAAA-nodata"
                f.write(f"svc-{i}.{ns}.svc.cluster.local AAAA\n")
            elif r < 0.48:
                kind = "SRV"
                f.write(f"_http._tcp.svc-{i}.{ns}.svc.cluster.local SRV\n")
            elif r < 0.56:
                kind = "headless-A"
                h = (i // 5) * 5 + 4
                h = h if h < services else 4
                f.write(f"svc-{h}.ns-{h % NAMESPACES}.svc.cluster.local A\n")
            elif r < 0.64:
                kind = "PTR"
                ip = svc_ip(i) if not headless else ep_ip(i, rng.randrange(per_service))
                f.write(".".join(reversed(ip.split("."))) + ".in-addr.arpa PTR\n")
            else:
                kind = "NXDOMAIN-search"
                shape = rng.randrange(4)
                if shape == 0:
                    f.write(f"svc-{i}.{ns}.{own}.svc.cluster.local A\n")
                elif shape == 1:
                    f.write(f"example.com.{own}.svc.cluster.local A\n")
                elif shape == 2:
                    f.write("example.com.svc.cluster.local A\n")
                else:
                    f.write("example.com.cluster.local AAAA\n")
            mix[kind] += 1
    return mix


async def run_dnsperf(port: int, path: str, *extra: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", path, *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return out.decode()


def parse_dnsperf(text: str) -> dict[str, float]:
    def grab(pattern: str) -> float | None:
        m = re.search(pattern, text)
        return float(m.group(1)) if m else None

    return {
        "qps": grab(r"Queries per second:\s+([\d.]+)"),
        "sent": grab(r"Queries sent:\s+(\d+)"),
        "completed": grab(r"Queries completed:\s+(\d+)"),
        "lost": grab(r"Queries lost:\s+(\d+)"),
        "avg_latency": grab(r"Average Latency \(s\):\s+([\d.]+)"),
        "max_latency": grab(r"Average Latency \(s\):.*max ([\d.]+)"),
        "stddev": grab(r"Latency StdDev \(s\):\s+([\d.]+)"),
    }


def cpu_seconds(pids: list[int] | None = None) -> float:
    if not pids:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def serve_forever(index: ClusterIndex, port: int, ready) -> None:
    server = DNSServer(DNSConfig(upstreams=()), index)
    await server.start("127.0.0.1", port, reuse_port=True)
    ready.set()
    await asyncio.Event().wait()


def worker_main(args, port: int, ready) -> None:
    index, _, _ = build_index(args.services, args.endpoints_per_service)
    runner = uvloop.run if uvloop else asyncio.run
    runner(serve_forever(index, port, ready))


async def measure(args, port: int, path: str, pids: list[int] | None, server: DNSServer | None) -> None:
    print(f"warm-up: one pass through the query file ({args.lines} queries)...", flush=True)
    warm = parse_dnsperf(await run_dnsperf(port, path, "-n", "1", "-c", str(args.clients), "-q", "200"))
    print(f"  warm-up QPS {warm['qps']:.0f} (includes every first-time cache miss)")
    cmd = ["-l", str(args.seconds), "-c", str(args.clients), "-T", str(args.threads), "-Q", str(args.max_qps),
           "-q", str(args.outstanding)]
    print("measured run: dnsperf -s 127.0.0.1 -p PORT -d FILE " + " ".join(cmd), flush=True)
    cpu0, t0 = cpu_seconds(pids), time.perf_counter()
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = await run_dnsperf(port, path, *cmd)
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pids) - cpu0
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (kids1.ru_utime + kids1.ru_stime) - (kids0.ru_utime + kids0.ru_stime)
    res = parse_dnsperf(text)
    if res["qps"] is None:
        print(text)
        raise SystemExit("could not parse dnsperf output")
    cores = cpu / wall
    print()
    print(f"QPS                 {res['qps']:,.0f}   (sent {res['sent']:,.0f}, completed {res['completed']:,.0f}, lost {res['lost']:,.0f})")
    print(f"latency avg / max   {res['avg_latency'] * 1e3:.3f} ms / {res['max_latency'] * 1e3:.3f} ms   (stddev {res['stddev'] * 1e3:.3f} ms)")
    print(f"server CPU          {cpu:.2f} s over {wall:.2f} s = {cores:.2f} cores")
    print(f"QPS per server core {res['qps'] / cores:,.0f}   (CoreDNS published: ~17,000 per core)")
    print(f"dnsperf CPU         {client_cpu:.2f} s = {client_cpu / wall:.2f} cores (same machine: {os.cpu_count()} CPUs)")
    codes = re.search(r"Response codes:\s+(.*)", text)
    if codes:
        print(f"response codes      {codes.group(1)}")
    # dnsperf prints no percentiles; a shorter run with -v reports each query's latency
    vtext = await run_dnsperf(port, path, "-v", *cmd[:1], str(min(args.seconds, 3)), *cmd[2:])
    lat = sorted(float(m) for m in re.findall(r"^> \S+ \S+ \S+ ([\d.]+)$", vtext, re.M))
    if lat:
        pct = {p: lat[min(len(lat) - 1, int(len(lat) * p / 100))] * 1e3 for p in (50, 90, 99, 99.9)}
        print(f"latency percentiles p50 {pct[50]:.3f} ms, p90 {pct[90]:.3f} ms, p99 {pct[99]:.3f} ms, "
              f"p99.9 {pct[99.9]:.3f} ms   (separate {min(args.seconds, 3)} s run with dnsperf -v, {len(lat):,} queries)")
    if server is not None:
        r = server.responder
        print(f"answer cache        {r.hits:,} hits, {r.misses:,} misses, {len(r._cache):,} templates")


def micro(index: ClusterIndex, path: str) -> None:
    """The answer path without sockets: Responder.handle on wire queries, cold and warm."""
    import dns.message

    from svcnet.dns.responder import Responder

    with open(path) as f:
        pairs = [line.split() for line in f if line.strip()]
    made = {}
    wires = []
    for name, qtype in pairs:
        key = (name, qtype)
        if key not in made:
            made[key] = dns.message.make_query(name, qtype).to_wire()
        wires.append(made[key])
    distinct = list(made.values())
    responder = Responder(DNSConfig(upstreams=()), index)
    t0 = time.perf_counter()
    for w in distinct:
        responder.handle(w)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    for w in wires:
        responder.handle(w)
    warm = time.perf_counter() - t0
    print(f"answer path (no I/O): miss {cold / len(distinct) * 1e6:.1f} us/query ({len(distinct):,} distinct), "
          f"hit {warm / len(wires) * 1e6:.2f} us/query ({len(wires) / warm:,.0f}/s per core)")


async def main_async(args) -> None:
    path = os.path.join(tempfile.mkdtemp(prefix="svcnet-dnsperf-"), "queries.txt")
    mix = query_file(path, args.services, args.endpoints_per_service, args.lines)
    print("query mix: " + ", ".join(f"{k} {v * 100 / args.lines:.0f}%" for k, v in mix.items()))
    if args.workers > 1:
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        port = args.port or 10153
        procs = []
        for _ in range(args.workers):
            ready = ctx.Event()
            p = ctx.Process(target=worker_main, args=(args, port, ready), daemon=True)
            p.start()
            procs.append((p, ready))
        for p, ready in procs:
            if not ready.wait(300):
                raise SystemExit("worker did not start")
        print(f"{args.workers} worker processes on 127.0.0.1:{port} (SO_REUSEPORT)")
        try:
            await measure(args, port, path, [p.pid for p, _ in procs], None)
        finally:
            for p, _ in procs:
                p.terminate()
        return
    index, took, mem = build_index(args.services, args.endpoints_per_service)
    counts = index.counts()
    print(f"index: {counts['services']:,} services, {counts['endpoints']:,} endpoints in {counts['endpointslices']:,} slices; "
          f"built in {took:.1f} s; RSS +{mem / 2**20:.1f} MiB "
          f"({mem / (counts['services'] + counts['endpoints']):.0f} B per service+endpoint)")
    micro(index, path)
    server = DNSServer(DNSConfig(upstreams=()), index)
    await server.start("127.0.0.1", args.port)
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(f"server on 127.0.0.1:{server.bound_port} ({loop} loop, pid {os.getpid()})")
    try:
        await measure(args, server.bound_port, path, None, server)
    finally:
        await server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--endpoints-per-service", type=int, default=10)
    ap.add_argument("--lines", type=int, default=100_000, help="queries in the dnsperf input file")
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--max-qps", type=int, default=100_000)
    ap.add_argument("--outstanding", type=int, default=100, help="dnsperf -q")
    ap.add_argument("--threads", type=int, default=1, help="dnsperf -T")
    ap.add_argument("--workers", type=int, default=1, help="server processes sharing the port (SO_REUSEPORT)")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    if shutil.which("dnsperf") is None:
        raise SystemExit("dnsperf is not installed (Debian package dnsperf)")
    if uvloop is not None and args.workers == 1:
        uvloop.run(main_async(args))
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
