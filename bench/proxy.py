"""Userspace proxy vs HAProxy 2.x (mode tcp, nbthread 1), side by side on one backend.

Each proxy runs pinned to one core (``--proxy-core``, default 0); the load generator and the
backends run pinned to the other (``--load-core``, default 1). Measured, proxy after proxy in
one run, on loopback only:

  (a) keep-alive HTTP requests/s and p50/p99 latency: ``wrk -t1 -c32 -d<secs>`` against an
      HTTP backend that is not the bottleneck (a separate HAProxy answering
      ``http-request return status 200 ... string ok``);
  (b) new connections/s: the same with ``Connection: close`` (one connection per request);
  (c) bulk MB/s: a backend ``sendfile``s a 1 GiB sparse file to each client; the client reads
      it through the proxy and times it.

Besides the rate, the proxy's own CPU time (utime+stime from /proc) is measured during each
run, and "per core" is the rate divided by the proxy's CPU share, so a proxy that was not
saturated is not flattered or penalised.

    python bench/proxy.py                     # 10 s per wrk run, 1 GiB transfer, 3 rounds
    python bench/proxy.py --seconds 5 --rounds 1 --bulk-mib 256
    python bench/proxy.py --splice never      # the userspace proxy without splice(2)

The userspace proxy runs as the real node agent (``NodeProxy`` over an in-process API server,
uvloop) forwarding a ClusterIP Service whose selectorless EndpointSlice points at the backend.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
sys.path.insert(0, SRC)

BACKEND_IP = "127.244.0.10"
HAPROXY_FRONT_IP = "127.0.0.2"


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def wait_port(ip: str, port: int, timeout: float = 10.0, proc: "Proc | None" = None) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.p.poll() is not None:
            raise RuntimeError(f"{proc.name} exited: {proc.stderr()}")
        try:
            with socket.create_connection((ip, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{ip}:{port} did not come up")


def cpu_times(pid: int) -> tuple[float, float]:
    """(total, user) CPU seconds of ``pid``: total from schedstat (ns), user from stat."""
    with open(f"/proc/{pid}/schedstat") as f:
        total = int(f.read().split()[0]) / 1e9
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return total, int(fields[11]) / os.sysconf("SC_CLK_TCK")


# -- processes --------------------------------------------------------------------------------


class Proc:
    def __init__(self, name: str, argv: list[str], core: int, *, stdout=subprocess.DEVNULL) -> None:  # type: ignore[no-untyped-def]
        self.name = name
        self.err = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty child never blocks
        self.p = subprocess.Popen(["taskset", "-c", str(core), *argv], stdout=stdout, stderr=self.err, text=True)

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read()

    @property
    def pid(self) -> int:
        return self.p.pid

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def haproxy_cfg(body: str) -> str:
    fd, path = tempfile.mkstemp(suffix=".cfg", prefix="svcnet-bench-")
    with os.fdopen(fd, "w") as f:
        f.write(
            "global\n  nbthread 1\n  maxconn 4000\n\n"
            "defaults\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\n\n" + body
        )
    return path


def start_http_backend(core: int) -> tuple[Proc, int]:
    port = free_port(BACKEND_IP)
    cfg = haproxy_cfg(
        f"frontend web\n  mode http\n  bind {BACKEND_IP}:{port}\n"
        "  http-request return status 200 content-type text/plain string ok\n"
    )
    p = Proc("http-backend", ["haproxy", "-db", "-f", cfg], core)
    wait_port(BACKEND_IP, port, proc=p)
    return p, port


def start_haproxy_tcp(core: int, backend_port: int, *, splice: bool = False) -> tuple[Proc, int]:
    port = free_port(HAPROXY_FRONT_IP)
    extra = "  option splice-auto\n" if splice else ""
    cfg = haproxy_cfg(
        f"frontend fe\n  mode tcp\n  bind {HAPROXY_FRONT_IP}:{port}\n{extra}  default_backend be\n\n"
        f"backend be\n  mode tcp\n{extra}  server s1 {BACKEND_IP}:{backend_port}\n"
    )
    p = Proc("haproxy", ["haproxy", "-db", "-f", cfg], core)
    wait_port(HAPROXY_FRONT_IP, port, proc=p)
    return p, port


def start_userspace(core: int, backend_port: int, splice: str, engine: str) -> tuple[Proc, str, int]:
    p = Proc(
        "userspace",
        [sys.executable, os.path.abspath(__file__), "--serve-userspace", str(backend_port), "--splice", splice, "--engine", engine],
        core,
        stdout=subprocess.PIPE,
    )
    line = p.p.stdout.readline().strip()  # type: ignore[union-attr]
    if not line:
        raise RuntimeError(f"userspace proxy failed to start: {p.stderr()}")
    ip, port = line.split(":")
    wait_port(ip, int(port))
    return p, ip, int(port)


def start_proxies(args: argparse.Namespace, backend_port: int, procs: list[Proc]) -> list[tuple[str, Proc, str, int]]:
    """The proxies compared, each in front of ``backend_port``: ``(name, proc, ip, port)``."""
    targets = []
    for name, engine in ([("userspace", "c"), ("userspace-py", "python")] if args.engine == "both" else [("userspace", args.engine)]):
        us, us_ip, us_port = start_userspace(args.proxy_core, backend_port, args.splice, engine)
        procs.append(us)
        targets.append((name, us, us_ip, us_port))
    ha, ha_port = start_haproxy_tcp(args.proxy_core, backend_port)
    procs.append(ha)
    targets.append(("haproxy", ha, HAPROXY_FRONT_IP, ha_port))
    if args.haproxy_splice:
        has, has_port = start_haproxy_tcp(args.proxy_core, backend_port, splice=True)
        procs.append(has)
        targets.append(("haproxy+splice", has, HAPROXY_FRONT_IP, has_port))
    return targets


def serve_userspace(backend_port: int, splice: str, engine: str) -> None:
    """Child process: the node agent over an in-process API server, forwarding one Service."""
    import uvloop

    from svcnet.apiserver.registry import ClusterConfig
    from svcnet.client.inprocess import local_client
    from svcnet.proxy.agent import NodeProxy
    from svcnet.proxy.userspace.tcp import TcpOptions

    async def main() -> None:
        client = local_client(config=ClusterConfig(service_cidrs=("127.96.0.0/16",)))
        svc = await client.create("services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "bench", "namespace": "default"},
            "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
        })
        await client.create("endpointslices", {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "bench-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "bench"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": backend_port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [BACKEND_IP], "conditions": {"ready": True}, "nodeName": "node1"}],
        })
        proxy = NodeProxy(client, node_name="node1", node_ips=["127.0.0.1"], metrics_addr=None, healthz_addr=None,
                          tcp_options=TcpOptions(splice=splice, engine=engine))
        await proxy.start()
        print(f"{svc['spec']['clusterIP']}:80", flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await proxy.stop()

    uvloop.run(main())


# -- bulk backend and client --------------------------------------------------------------------


def serve_bulk(path: str, port: int) -> None:
    """Child process: sendfile ``path`` to every client (a thread each: a readiness probe that
    hangs up early must not hold up the measured transfer)."""
    import threading

    size = os.path.getsize(path)

    def send(c: socket.socket) -> None:
        with c, open(path, "rb") as f:
            off = 0
            try:
                while off < size:
                    n = os.sendfile(c.fileno(), f.fileno(), off, size - off)
                    if n == 0:
                        break
                    off += n
            except OSError:
                pass  # a probe that hung up

    with socket.socket() as ls:
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((BACKEND_IP, port))
        ls.listen(16)
        print("ready", flush=True)
        while True:
            c, _ = ls.accept()
            threading.Thread(target=send, args=(c,), daemon=True).start()


def bulk_client(ip: str, port: int, size: int) -> float:
    """Child process body: read ``size`` bytes from ``ip:port``; returns MB/s."""
    buf = bytearray(1 << 20)
    with socket.create_connection((ip, port)) as s:
        t0 = time.perf_counter()
        got = 0
        while got < size:
            n = s.recv_into(buf)
            if not n:
                break
            got += n
        dt = time.perf_counter() - t0
    if got != size:
        raise RuntimeError(f"short read: {got} of {size}")
    return size / dt / 1e6


# -- measurements -------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def run_wrk(ip: str, port: int, seconds: int, core: int, close: bool, conns: int) -> dict:
    argv = ["taskset", "-c", str(core), "wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency"]
    if close:
        argv += ["-H", "Connection: close"]
    out = subprocess.run([*argv, f"http://{ip}:{port}/"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)", out)
        lat[pct] = float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")
    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat["50"], "p99": lat["99"], "errors": (errors.group(1) if errors else "") + (f" non2xx={non2xx.group(1)}" if non2xx else "")}


def measure(pid: int, fn):  # type: ignore[no-untyped-def]
    (c0, u0), t0 = cpu_times(pid), time.perf_counter()
    result = fn()
    (c1, u1), t1 = cpu_times(pid), time.perf_counter()
    result["cpu"] = (c1 - c0) / (t1 - t0)
    result["usr"] = (u1 - u0) / (t1 - t0)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3, help="alternate the proxies this many times; medians are shown")
    ap.add_argument("--bulk-mib", type=int, default=1024)
    ap.add_argument("--proxy-core", type=int, default=0)
    ap.add_argument("--load-core", type=int, default=1)
    ap.add_argument("--splice", default="auto", choices=["auto", "always", "never"])
    ap.add_argument("--engine", default="auto", choices=["auto", "c", "python", "both"],
                    help="the userspace proxy's TCP relay: compiled (c), the Python pumps, or both side by side")
    ap.add_argument("--haproxy-splice", action="store_true", help="also measure HAProxy with option splice-auto")
    ap.add_argument("--only", default="abc", help="which measurements: any of a, b, c")
    ap.add_argument("--serve-userspace", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--serve-bulk", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_userspace:
        serve_userspace(args.serve_userspace, args.splice, args.engine)
        return
    if args.serve_bulk:
        serve_bulk(args.serve_bulk[0], int(args.serve_bulk[1]))
        return
    for tool in ("haproxy", "wrk", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"bench/proxy.py needs {tool}")
    print("# " + " ".join([os.path.basename(sys.executable), *sys.argv]))
    print(f"# {os.cpu_count()} CPUs; proxies on core {args.proxy_core}, load+backends on core {args.load_core}; "
          f"haproxy: {subprocess.run(['haproxy', '-v'], capture_output=True, text=True).stdout.splitlines()[0]}")

    procs: list[Proc] = []
    results: dict[str, dict[str, list[dict]]] = {}
    sparse = None
    try:
        http, http_port = start_http_backend(args.load_core)
        procs.append(http)
        targets = start_proxies(args, http_port, procs)
        for name, *_ in targets:
            results[name] = {"a": [], "b": [], "c": []}

        for rnd in range(args.rounds):
            for name, proc, ip, port in targets:
                if "a" in args.only:
                    r = measure(proc.pid, lambda: run_wrk(ip, port, args.seconds, args.load_core, False, args.connections))
                    results[name]["a"].append(r)
                    print(f"  round {rnd + 1} {name:15s} keep-alive  {r['rps']:10.0f} req/s  p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  cpu {r['cpu']:.0%} (usr {r['usr']:.0%}) {r['errors']}")
                if "b" in args.only:
                    r = measure(proc.pid, lambda: run_wrk(ip, port, args.seconds, args.load_core, True, args.connections))
                    results[name]["b"].append(r)
                    print(f"  round {rnd + 1} {name:15s} new-conn    {r['rps']:10.0f} conn/s cpu {r['cpu']:.0%} (usr {r['usr']:.0%}) {r['errors']}")

        if "c" in args.only:
            size = args.bulk_mib << 20
            fd, sparse = tempfile.mkstemp(prefix="svcnet-bench-bulk-")
            os.ftruncate(fd, size)
            os.close(fd)
            bulk_port = free_port(BACKEND_IP)
            bulk = Proc("bulk-backend", [sys.executable, os.path.abspath(__file__), "--serve-bulk", sparse, str(bulk_port)],
                        args.load_core, stdout=subprocess.PIPE)
            procs.append(bulk)
            bulk.p.stdout.readline()  # type: ignore[union-attr]
            # warm-up, direct, unmeasured: the first read of the sparse file fills the page
            # cache with its zero pages, which would slow whichever proxy went first
            bulk_client(BACKEND_IP, bulk_port, size)
            bulk_targets = start_proxies(args, bulk_port, procs)  # separate proxies for the bulk backend
            for rnd in range(args.rounds):
                for name, proc, ip, port in bulk_targets:
                    def once(ip=ip, port=port):  # type: ignore[no-untyped-def]
                        res = subprocess.run(
                            ["taskset", "-c", str(args.load_core), sys.executable, "-c",
                             f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
                             f"import proxy; print(proxy.bulk_client({ip!r}, {port}, {size}))"],
                            capture_output=True, text=True)
                        if res.returncode:
                            raise RuntimeError(f"bulk client failed: {res.stderr}")
                        return {"mbps": float(res.stdout.strip())}
                    r = measure(proc.pid, once)
                    results[name]["c"].append(r)
                    print(f"  round {rnd + 1} {name:15s} bulk        {r['mbps']:10.0f} MB/s   cpu {r['cpu']:.0%}")
    finally:
        for p in reversed(procs):
            p.stop()
        if sparse:
            os.unlink(sparse)

    report(results, args)


def report(results: dict, args: argparse.Namespace) -> None:
    """Medians per proxy; each ratio is the median of the per-round ratios (the proxies take
    turns within a round, so pairing them cancels most of the machine's drift between rounds)."""
    names = list(results)
    ours = [n for n in names if n.startswith("userspace")]
    lines = [("metric", *names, *[f"{n}/haproxy" for n in ours])]

    def row(label: str, part: str, key: str, fmt: str, per_core: bool = False) -> None:
        def value(r: dict) -> float:
            return r[key] / max(r["cpu"], 1e-9) if per_core else r[key]

        vals = [statistics.median(value(r) for r in results[n][part]) if results[n][part] else float("nan") for n in names]
        ratios = []
        for n in ours:
            pairs = [value(a) / value(b) for a, b in zip(results[n][part], results["haproxy"][part]) if value(b)]
            ratios.append(f"{statistics.median(pairs):.2f}x" if pairs else "-")
        lines.append((label, *[format(v, fmt) for v in vals], *ratios))

    if "a" in args.only:
        row("keep-alive req/s", "a", "rps", ",.0f")
        row("  per proxy core", "a", "rps", ",.0f", per_core=True)
        row("  p50 latency ms", "a", "p50", ".3f")
        row("  p99 latency ms", "a", "p99", ".3f")
        row("  proxy CPU", "a", "cpu", ".0%")
    if "b" in args.only:
        row("new conn/s", "b", "rps", ",.0f")
        row("  per proxy core", "b", "rps", ",.0f", per_core=True)
        row("  proxy CPU", "b", "cpu", ".0%")
    if "c" in args.only:
        row(f"bulk MB/s ({args.bulk_mib} MiB)", "c", "mbps", ",.0f")
        row("  per proxy core", "c", "mbps", ",.0f", per_core=True)
        row("  proxy CPU", "c", "cpu", ".0%")
    widths = [max(len(str(r[i])) for r in lines) for i in range(len(lines[0]))]
    print()
    print(f"# medians of {args.rounds} round(s); wrk -t1 -c{args.connections} -d{args.seconds}s; userspace splice={args.splice}")
    for r in lines:
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths))))


if __name__ == "__main__":
    main()
