"""API server throughput and watch latency, over real HTTPS with a bearer token.

Starts ``svcnet apiserver`` (SQLite store, TLS, token auth, uvloop) as a separate process on a
free loopback port and drives it from this process (aiohttp, keep-alive connections, N
concurrent tasks) and with ``wrk`` when it is installed:

1. **create**: POST ``--services`` Services with ``--concurrency`` tasks (this also fills the
   namespace the LIST measures);
2. **GET one Service**: ``wrk`` (a Lua script adds the bearer header), else aiohttp tasks;
3. **LIST** all ``--services`` Services (a few concurrent clients);
4. **watch latency**: ``--watchers`` concurrent watches of the namespace while a writer PATCHes
   Services at ``--rate`` updates/s for ``--watch-seconds``; each update carries its send time
   in an annotation and each watcher records (receive time - send time) per event. p50/p99
   over every (watcher, event) pair; the writer's achieved rate is printed too.

    python bench/apiserver.py                    # 10,000 services, 50 watchers at 1,000/s
    python bench/apiserver.py --services 2000 --watch-seconds 3 --no-wrk

Everything is bounded (about a minute with the defaults); only loopback is used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import aiohttp  # noqa: E402
import orjson  # noqa: E402

from svcnet.client.kubeconfig import load_kubeconfig  # noqa: E402

NS = "default"
ANNOTATION = "bench.svcnet.io/written-at"
_WRITTEN_AT = re.compile(rb'"bench\.svcnet\.io/written-at":"([0-9.]+)"')


def service(i: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"svc-{i:05d}", "labels": {"app": f"app-{i}", "tier": "backend"}},
        "spec": {"selector": {"app": f"app-{i}"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    }


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class Server:
    """``svcnet apiserver`` in a child process (stopped with SIGTERM by PID)."""

    def __init__(self, workdir: str):
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1", XDG_STATE_HOME=os.path.join(self.workdir, "xdg"))
        src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "svcnet.cli.main", "apiserver",
             "--state", os.path.join(self.workdir, "state.db"),
             "--api-port", "0",
             "--kubeconfig", os.path.join(self.workdir, "kubeconfig"),
             "--service-cluster-ip-range", "10.96.0.0/12"],
            stdout=subprocess.PIPE, stderr=open(os.path.join(self.workdir, "apiserver.log"), "wb"), env=env, text=True,
        )
        deadline = time.monotonic() + 30
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit(f"apiserver exited: see {self.workdir}/apiserver.log")
            if line.startswith("API server listening on "):
                self.url = line.split()[-1]
                return
        raise SystemExit("apiserver did not start in 30s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


# ---------------------------------------------------------------------------------------------


async def bench_create(s: aiohttp.ClientSession, url: str, n: int, concurrency: int) -> tuple[float, list[float]]:
    counter = iter(range(n))
    lat: list[float] = []
    path = f"{url}/api/v1/namespaces/{NS}/services"

    async def worker() -> None:
        for i in counter:
            body = orjson.dumps(service(i))
            t = time.perf_counter()
            async with s.post(path, data=body, headers={"Content-Type": "application/json"}) as r:
                await r.read()
                if r.status != 201:
                    raise SystemExit(f"create failed: {r.status} {await r.text()}")
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t0), lat


async def bench_requests(s: aiohttp.ClientSession, url: str, seconds: float, concurrency: int, headers: dict | None = None) -> tuple[float, list[float], int]:
    """Requests/s for GETs of ``url`` with ``concurrency`` tasks for ``seconds``."""
    lat: list[float] = []
    size = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal size
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            async with s.get(url, headers=headers) as r:
                body = await r.read()
                if r.status != 200:
                    raise SystemExit(f"GET failed: {r.status}")
            size = len(body)
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(lat) / (time.perf_counter() - t0), lat, size


def bench_wrk(url: str, token: str, seconds: int, connections: int, workdir: str) -> tuple[float, str, str] | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = os.path.join(workdir, "auth.lua")
    with open(script, "w") as f:
        f.write(f'wrk.headers["Authorization"] = "Bearer {token}"\nwrk.headers["Accept"] = "application/json"\n')
    out = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
        capture_output=True, text=True, timeout=seconds + 30,
    ).stdout
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    if not m:
        print(out, file=sys.stderr)
        return None
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} error responses:\n{out}")
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    return float(m.group(1)), p50.group(1) if p50 else "?", p99.group(1) if p99 else "?"


async def bench_watch(
    s: aiohttp.ClientSession, url: str, *, watchers: int, rate: float, seconds: float, targets: int, writers: int
) -> dict:
    base = f"{url}/api/v1/namespaces/{NS}/services"
    async with s.get(base, params={"limit": "1"}) as r:
        rv = (await r.json())["metadata"]["resourceVersion"]
    latencies: list[float] = []
    received = [0] * watchers
    ready = 0
    total = int(rate * seconds)

    async def watcher(k: int) -> None:
        nonlocal ready
        async with s.get(base, params={"watch": "1", "resourceVersion": rv}, timeout=aiohttp.ClientTimeout(total=None)) as r:
            ready += 1
            content = r.content
            while received[k] < total:
                line = await content.readline()
                if not line:
                    return
                now = time.time()
                m = _WRITTEN_AT.search(line)  # no full parse: the watcher's own cost stays small
                if m:
                    latencies.append(now - float(m.group(1)))
                    received[k] += 1

    tasks = [asyncio.ensure_future(watcher(k)) for k in range(watchers)]
    while ready < watchers:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)

    # the writer: `writers` tasks share a schedule of one update every 1/rate seconds
    write_lat: list[float] = []
    sent = 0
    t0 = time.perf_counter()
    schedule = iter(range(total))

    async def writer() -> None:
        nonlocal sent
        for i in schedule:
            due = t0 + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            body = orjson.dumps({"metadata": {"annotations": {ANNOTATION: f"{time.time():.6f}"}}})
            t = time.perf_counter()
            async with s.patch(f"{base}/svc-{i % targets:05d}", data=body, headers={"Content-Type": "application/merge-patch+json"}) as r:
                await r.read()
                if r.status != 200:
                    raise SystemExit(f"PATCH failed: {r.status}")
            write_lat.append(time.perf_counter() - t)
            sent += 1

    await asyncio.gather(*(writer() for _ in range(writers)))
    elapsed = time.perf_counter() - t0
    try:
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)
    except asyncio.TimeoutError:
        for t in tasks:
            t.cancel()
    return {
        "achieved_rate": sent / elapsed,
        "events": len(latencies),
        "expected": total * watchers,
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
        "max": max(latencies) if latencies else float("nan"),
        "write_p50": pct(write_lat, 50),
    }


# ---------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, server: Server, workdir: str) -> list[tuple[str, str]]:
    access = load_kubeconfig(os.path.join(workdir, "kubeconfig"))
    ctx = ssl.create_default_context()
    assert access.ca_data
    ctx.load_verify_locations(cadata=access.ca_data.decode())
    headers = {"Authorization": f"Bearer {access.token}", "Accept": "application/json"}
    rows: list[tuple[str, str]] = []
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(ssl=ctx, limit=0)) as s:
        url = server.url

        rps, lat = await bench_create(s, url, args.services, args.concurrency)
        rows.append((f"create Service (POST, {args.concurrency} concurrent)", f"{rps:,.0f} req/s  (p50 {pct(lat, 50) * 1e3:.1f} ms, p99 {pct(lat, 99) * 1e3:.1f} ms)"))
        print(f"  created {args.services:,} services", file=sys.stderr)

        one = f"{url}/api/v1/namespaces/{NS}/services/svc-00000"
        if "get" in args.phases:
            await _gets(args, s, one, access.token or "", workdir, rows)
        lst = f"{url}/api/v1/namespaces/{NS}/services"
        if "list" in args.phases:
            rps, lat, size = await bench_requests(s, lst, args.seconds, args.list_concurrency)
            rows.append((f"LIST {args.services:,} Services ({args.list_concurrency} concurrent)", f"{rps:,.2f} req/s  ({size / 1e6:.1f} MB each, p50 {pct(lat, 50) * 1e3:.0f} ms, {rps * size / 1e6:,.0f} MB/s)"))
        if "watch" in args.phases:
            wres = await bench_watch(s, url, watchers=args.watchers, rate=args.rate, seconds=args.watch_seconds,
                                     targets=min(args.services, 1000), writers=args.writers)
            rows.append((f"watch latency, {args.watchers} watchers, {args.rate:,.0f} updates/s asked",
                         f"p50 {wres['p50'] * 1e3:.1f} ms, p99 {wres['p99'] * 1e3:.1f} ms (max {wres['max'] * 1e3:.0f} ms)"))
            rows.append(("  writer achieved / events received", f"{wres['achieved_rate']:,.0f} updates/s; {wres['events']:,} of {wres['expected']:,} events (PATCH p50 {wres['write_p50'] * 1e3:.1f} ms)"))
    return rows


async def _gets(args: argparse.Namespace, s: aiohttp.ClientSession, one: str, token: str, workdir: str, rows: list) -> None:
        w = None if args.no_wrk else bench_wrk(one, token, int(args.seconds), args.connections, workdir)
        if w is not None:
            rows.append((f"GET one Service (wrk -t2 -c{args.connections})", f"{w[0]:,.0f} req/s  (p50 {w[1]}, p99 {w[2]})"))
        rps, lat, _ = await bench_requests(s, one, args.seconds, args.concurrency)
        rows.append((f"GET one Service (aiohttp, {args.concurrency} concurrent)", f"{rps:,.0f} req/s  (p50 {pct(lat, 50) * 1e3:.1f} ms, p99 {pct(lat, 99) * 1e3:.1f} ms)"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--services", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=16, help="concurrent client tasks for create/GET")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections")
    ap.add_argument("--list-concurrency", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0, help="duration of each GET/LIST measurement")
    ap.add_argument("--watchers", type=int, default=50)
    ap.add_argument("--rate", type=float, default=1000.0, help="updates/s the writer aims for")
    ap.add_argument("--writers", type=int, default=16, help="concurrent writer tasks sharing the schedule")
    ap.add_argument("--watch-seconds", type=float, default=5.0)
    ap.add_argument("--no-wrk", action="store_true")
    ap.add_argument("--phases", default="create,get,list,watch", help="which measurements to run (create always runs)")
    args = ap.parse_args()

    workdir = tempfile.mkdtemp(prefix="svcnet-bench-api-")
    server = Server(workdir)
    server.start()
    print(f"apiserver {server.url} (pid {server.proc.pid}), state in {workdir}", file=sys.stderr)
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    try:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        rows = asyncio.run(run(args, server, workdir))
    finally:
        server.stop()
    width = max(len(r[0]) for r in rows)
    print(f"\nsvcnet API server, SQLite store, HTTPS + bearer token, client and server on {os.cpu_count()} CPUs")
    print(f"{'measurement'.ljust(width)}  result")
    print(f"{'-' * width}  {'-' * 60}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    print(f"(total {time.perf_counter() - t0:.0f} s; load average before {load0:.2f}, after {os.getloadavg()[0]:.2f}: other processes on this machine skew the figures)")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
