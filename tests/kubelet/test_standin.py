"""Stand-in images as real processes: HTTP/TCP/UDP on a loopback pod IP, SIGTERM, bind errors."""

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import time

import pytest

from svcnet.kubelet.images import BIND_FAILED_EXIT
from svcnet.kubelet.standin import UsageError, parse_go_flags

from ._util import free_port, free_tcp_udp_port, kill_group


class StandIn:
    def __init__(self, proc, ip):
        self.proc, self.ip = proc, ip

    async def stderr(self) -> str:
        return (await self.proc.stderr.read()).decode()


@pytest.fixture
async def standin(pod_ip):
    started = []

    async def start(*args, ports="", env=None, wait_tcp=None, prefix=()):
        e = {"PATH": os.environ["PATH"], "POD_IP": pod_ip, "POD_NAME": "pod-a", "HOSTNAME": "pod-a", "POD_NAMESPACE": "ns1", "NODE_NAME": "node-1", "SVCNET_CONTAINER_PORTS": ports}
        e.update(env or {})
        proc = await asyncio.create_subprocess_exec(
            *prefix, sys.executable, "-m", "svcnet.kubelet.standin", *args,
            env=e, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
        )
        started.append(proc)
        s = StandIn(proc, pod_ip)
        if wait_tcp:
            deadline = time.monotonic() + 10
            while True:
                try:
                    _, w = await asyncio.open_connection(pod_ip, wait_tcp)
                    w.close()
                    break
                except OSError:
                    if proc.returncode is not None or time.monotonic() > deadline:
                        raise AssertionError(f"stand-in did not listen: {await s.stderr()}")
                    await asyncio.sleep(0.05)
        return s

    yield start
    for p in started:
        kill_group(p.pid)
        if p.returncode is None:
            await asyncio.wait_for(p.wait(), 5)


async def http(ip, port, path="/", *, method="GET", body=b"", keep=False):
    r, w = await asyncio.open_connection(ip, port)
    hdrs = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n" + ("" if keep else "Connection: close\r\n") + "\r\n"
    w.write(hdrs.encode() + body)
    data = await asyncio.wait_for(r.read(), 5)
    w.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    code = int(head.split()[1])
    headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
    return code, headers, payload


def udp(ip, port, data: bytes) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(data, (ip, port))
        return s.recv(4096)


async def udp_eventually(ip, port, data):
    for _ in range(50):
        try:
            return await asyncio.to_thread(udp, ip, port, data)
        except (TimeoutError, ConnectionRefusedError, OSError):
            await asyncio.sleep(0.1)
    raise AssertionError("no UDP answer")


@pytest.mark.parametrize(
    "args, want",
    [
        ([], {"port": 9376, "http": True, "tcp": False}),
        (["--port=9000", "--tcp", "--http=false"], {"port": 9000, "http": False, "tcp": True}),
        (["-port", "9001", "--tcp=true"], {"port": 9001, "http": True, "tcp": True}),
    ],
)
def test_parse_go_flags_table(args, want):
    got = parse_go_flags(args, {"port": 9376, "http": True, "tcp": False})
    assert {k: got[k] for k in want} == want


@pytest.mark.parametrize("args", [["--nope"], ["--port"], ["--port=x"], ["--http=maybe"], ["positional"]])
def test_parse_go_flags_errors(args):
    with pytest.raises(UsageError):
        parse_go_flags(args, {"port": 9376, "http": True})


async def test_echo_http_json_keepalive_and_sigterm(standin, pod_ip):
    port = free_port(pod_ip)
    s = await standin("echo", ports=f"http:{port}/TCP", wait_tcp=port)
    code, headers, body = await http(pod_ip, port, "/hello?x=1", method="POST", body=b"data")
    d = json.loads(body)
    assert code == 200 and headers["Content-Type"] == "application/json"
    assert d["pod"] == "pod-a" and d["ip"] == pod_ip and d["node"] == "node-1" and d["namespace"] == "ns1"
    assert d["path"] == "/hello?x=1" and d["method"] == "POST" and d["body"] == "data" and d["client"] == "127.0.0.1"
    # keep-alive with pipelining: two requests in one write, two answers on one connection
    r, w = await asyncio.open_connection(pod_ip, port)
    w.write(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while buf.count(b"HTTP/1.1 200") < 2:
        buf += await asyncio.wait_for(r.read(4096), 5)
    assert b'"path": "/a"' in buf and b'"path": "/b"' in buf
    # SIGTERM: stops accepting, closes the idle keep-alive connection, exits 0
    s.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(s.proc.wait(), 5) == 0
    assert await asyncio.wait_for(r.read(), 5) == b""
    w.close()
    with pytest.raises(OSError):
        await asyncio.open_connection(pod_ip, port)


async def test_echo_tcp_and_udp(standin, pod_ip):
    http_port, tcp_port, udp_port = free_port(pod_ip), free_port(pod_ip), free_tcp_udp_port(pod_ip)
    await standin("echo", f"--tcp-port={tcp_port}", ports=f":{http_port}/TCP,:{udp_port}/UDP", wait_tcp=http_port)
    r, w = await asyncio.open_connection(pod_ip, tcp_port)
    hello = json.loads(await asyncio.wait_for(r.readline(), 5))
    assert hello["pod"] == "pod-a" and hello["port"] == tcp_port
    w.write(b"ping\n")
    assert await asyncio.wait_for(r.readline(), 5) == b"ping\n"
    w.close()
    d = json.loads(await udp_eventually(pod_ip, udp_port, b"hi"))
    assert d["data"] == "hi" and d["pod"] == "pod-a"


async def test_agnhost_serve_hostname_http(standin, pod_ip):
    port = free_port(pod_ip)
    await standin("agnhost", "serve-hostname", f"--port={port}", wait_tcp=port)
    code, _, body = await http(pod_ip, port, "/anything")
    assert (code, body) == (200, b"pod-a")


async def test_agnhost_serve_hostname_close_header(standin, pod_ip):
    port = free_port(pod_ip)
    await standin("agnhost", "serve-hostname", f"--port={port}", "--close", wait_tcp=port)
    _, headers, body = await http(pod_ip, port, "/", keep=True)
    assert headers.get("Connection") == "close" and body == b"pod-a"


async def test_agnhost_serve_hostname_tcp_udp(standin, pod_ip):
    port = free_tcp_udp_port(pod_ip)
    await standin("agnhost", "serve-hostname", f"--port={port}", "--http=false", "--tcp", "--udp", wait_tcp=port)
    r, w = await asyncio.open_connection(pod_ip, port)
    assert await asyncio.wait_for(r.read(), 5) == b"pod-a"
    w.close()
    assert await udp_eventually(pod_ip, port, b"x") == b"pod-a"


async def test_agnhost_serve_hostname_refuses_http_with_tcp(standin):
    s = await standin("agnhost", "serve-hostname", "--tcp")
    assert await asyncio.wait_for(s.proc.wait(), 10) == 1
    assert "at the same time" in await s.stderr()


async def test_agnhost_netexec_endpoints(standin, pod_ip):
    hp, up = free_port(pod_ip), free_tcp_udp_port(pod_ip)
    await standin("agnhost", "netexec", f"--http-port={hp}", f"--udp-port={up}", wait_tcp=hp)
    assert (await http(pod_ip, hp, "/hostname"))[2] == b"pod-a"
    assert (await http(pod_ip, hp, "/echo?msg=hello"))[2] == b"hello"
    code, _, body = await http(pod_ip, hp, "/echo?msg=boom&code=503")
    assert (code, body) == (503, b"boom")
    assert (await http(pod_ip, hp, "/clientip"))[2].startswith(b"127.0.0.1:")
    assert (await http(pod_ip, hp, "/healthz"))[0] == 200
    assert (await http(pod_ip, hp, "/readyz"))[0] == 200
    assert (await http(pod_ip, hp, "/"))[2].startswith(b"NOW: ")
    code, headers, _ = await http(pod_ip, hp, "/redirect?location=/echo%3Fmsg%3Dx&code=307")
    assert code == 307 and headers["Location"] == "/echo?msg=x"
    assert await udp_eventually(pod_ip, up, b"hostname") == b"pod-a"
    assert await udp_eventually(pod_ip, up, b"echo hi there") == b"hi there"
    assert (await udp_eventually(pod_ip, up, b"clientip")).startswith(b"127.0.0.1:")
    dial = json.loads((await http(pod_ip, hp, f"/dial?host={pod_ip}&port={up}&protocol=udp&request=hostname&tries=2"))[2])
    assert dial == {"responses": ["pod-a", "pod-a"]}
    dial = json.loads((await http(pod_ip, hp, f"/dial?host={pod_ip}&port={hp}&protocol=http&request=hostname"))[2])
    assert dial == {"responses": ["pod-a"]}


async def test_agnhost_netexec_healthz_without_udp_is_412(standin, pod_ip):
    hp = free_port(pod_ip)
    await standin("agnhost", "netexec", f"--http-port={hp}", "--udp-port=-1", wait_tcp=hp)
    assert (await http(pod_ip, hp, "/healthz"))[0] == 412  # upstream: ready only once UDP serves


async def test_agnhost_netexec_exit_code(standin, pod_ip):
    hp = free_port(pod_ip)
    s = await standin("agnhost", "netexec", f"--http-port={hp}", "--udp-port=-1", wait_tcp=hp)
    assert (await http(pod_ip, hp, "/exit?code=7&timeout=1s"))[0] == 200
    assert await asyncio.wait_for(s.proc.wait(), 10) == 7


@pytest.mark.parametrize("kind, marker, server", [("nginx", b"Welcome to nginx!", "nginx"), ("httpd", b"It works!", "Apache")])
async def test_static_sites(standin, pod_ip, kind, marker, server):
    p1, p2 = free_port(pod_ip), free_port(pod_ip)
    await standin(kind, ports=f":{p1}/TCP,:{p2}/TCP", wait_tcp=p1)
    for p in (p1, p2):
        code, headers, body = await http(pod_ip, p, "/")
        assert code == 200 and marker in body and b"pod-a" in body and headers["Server"] == server
    assert (await http(pod_ip, p1, "/missing"))[0] == 404
    code, headers, body = await http(pod_ip, p1, "/", method="HEAD")
    assert code == 200 and body == b"" and int(headers["Content-Length"]) > 0


async def test_image_name_argument_resolves(standin, pod_ip):
    port = free_port(pod_ip)
    await standin("docker.io/library/nginx:1.27", ports=f":{port}/TCP", wait_tcp=port)
    assert (await http(pod_ip, port, "/"))[0] == 200


async def test_pause_sleeps_until_sigterm(standin):
    s = await standin("pause")
    await asyncio.sleep(0.3)
    assert s.proc.returncode is None
    s.proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(s.proc.wait(), 5) == 0


async def test_bind_failure_port_in_use(standin, pod_ip):
    holder = socket.socket()
    holder.bind((pod_ip, 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        s = await standin("echo", ports=f":{port}/TCP")
        assert await asyncio.wait_for(s.proc.wait(), 10) == BIND_FAILED_EXIT
        assert f"svcnet: cannot bind {pod_ip}:{port}/TCP: Address already in use" in await s.stderr()
    finally:
        holder.close()


def _unprivileged_port_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
            return int(f.read())
    except OSError:
        return 1024


@pytest.mark.skipif(_unprivileged_port_start() <= 80, reason="this kernel lets anyone bind port 80")
async def test_bind_failure_privileged_port(standin, pod_ip):
    # as root, run the stand-in as nobody (setpriv) so that port 80 really is privileged for it
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root and setpriv (util-linux) is missing to drop privileges")
        prefix = ("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups")
    s = await standin("nginx", prefix=prefix)
    assert await asyncio.wait_for(s.proc.wait(), 10) == BIND_FAILED_EXIT
    assert f"cannot bind {pod_ip}:80/TCP: Permission denied" in await s.stderr()


async def test_missing_pod_ip_refuses_to_bind_any(standin):
    s = await standin("echo", env={"POD_IP": ""})
    assert await asyncio.wait_for(s.proc.wait(), 10) == 1
    assert "never 0.0.0.0" in await s.stderr()


async def test_sigterm_lets_in_flight_request_finish(standin, pod_ip):
    port = free_port(pod_ip)
    s = await standin("echo", ports=f":{port}/TCP", wait_tcp=port)
    r, w = await asyncio.open_connection(pod_ip, port)
    w.write(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")  # body incomplete: in flight
    await w.drain()
    await asyncio.sleep(0.2)
    s.proc.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.2)
    assert s.proc.returncode is None  # still waiting for the request to finish
    w.write(b"cd")
    data = await asyncio.wait_for(r.read(), 5)
    assert b"200 OK" in data and b"Connection: close" in data and b'"body": "abcd"' in data
    assert await asyncio.wait_for(s.proc.wait(), 5) == 0
