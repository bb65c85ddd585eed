"""Helpers for the userspace proxy and cloud LB tests: real backends on loopback pod IPs,
selectorless Services + EndpointSlices written through the in-process client, and small
clients that say which backend answered.

Every backend binds ``127.244.250.N`` (the local-mode pod range) on a free port; every wait
has a timeout.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable

from svcnet.apiserver.registry import ClusterConfig
from svcnet.client.inprocess import local_client

__all__ = [
    "Backend",
    "UdpBackend",
    "closed_port",
    "connect_identify",
    "free_port",
    "make_client",
    "make_node",
    "make_service",
    "make_slice",
    "pod_ip",
    "set_lb_ingress",
    "start_backends",
    "udp_ask",
    "update_slice",
    "wait_for",
]

_pod_ips = itertools.count(1)
TIMEOUT = 5.0


def pod_ip() -> str:
    """A fresh loopback "pod" address (distinct per call within a test run)."""
    n = next(_pod_ips)
    return f"127.244.{250 + (n // 250) % 5}.{n % 250 + 1}"


def free_port(ip: str = "127.0.0.1", kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def closed_port(ip: str) -> int:
    """A port on ``ip`` nobody listens on (connect gets ECONNREFUSED)."""
    return free_port(ip)


def make_client():  # type: ignore[no-untyped-def]
    return local_client(config=ClusterConfig(service_cidrs=("127.96.0.0/16",), node_port_range=(30000, 32767)))


class Backend:
    """A TCP server that writes ``<name>\\n`` on connect, then echoes."""

    def __init__(self, name: str, ip: str | None = None, port: int = 0) -> None:
        self.name = name
        self.ip = ip or pod_ip()
        self.port = port
        self.server: asyncio.base_events.Server | None = None
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            writer.write(f"{self.name}\n".encode())
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            writer.write_eof()
        except (ConnectionError, OSError, RuntimeError):  # uvloop: RuntimeError on a closed transport
            pass
        finally:
            writer.close()
            self.writers.remove(writer)

    async def start(self) -> Backend:
        self.server = await asyncio.start_server(self._handle, self.ip, self.port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for w in list(self.writers):
                w.close()
            self.server = None

    @property
    def endpoint(self) -> tuple[str, int]:
        return (self.ip, self.port)


async def start_backends(names: list[str], *, udp: bool = False) -> list:
    """Backends named ``names`` on distinct pod IPs, all on one port (as pods of a Service)."""
    for _ in range(20):
        ips = [pod_ip() for _ in names]
        port = free_port(ips[0], socket.SOCK_DGRAM if udp else socket.SOCK_STREAM)
        started = []
        try:
            for name, ip in zip(names, ips):
                b = UdpBackend(name, ip, port) if udp else Backend(name, ip, port)
                started.append(await b.start())
            return started
        except OSError:
            for b in started:
                await b.stop()
    raise RuntimeError("no common free port for the backends")


class _UdpEcho(asyncio.DatagramProtocol):
    def __init__(self, name: str) -> None:
        self.name = name.encode()
        self.transport: asyncio.DatagramTransport | None = None
        self.packets = 0

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[no-untyped-def]
        self.packets += 1
        assert self.transport is not None
        self.transport.sendto(self.name + b":" + data, addr)


class UdpBackend:
    """A UDP server answering ``<name>:<datagram>``."""

    def __init__(self, name: str, ip: str | None = None, port: int = 0) -> None:
        self.name = name
        self.ip = ip or pod_ip()
        self.port = port
        self.proto: _UdpEcho | None = None

    async def start(self) -> UdpBackend:
        loop = asyncio.get_running_loop()
        transport, self.proto = await loop.create_datagram_endpoint(lambda: _UdpEcho(self.name), local_addr=(self.ip, self.port))
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def stop(self) -> None:
        if self.proto is not None and self.proto.transport is not None:
            self.proto.transport.close()


async def connect_identify(ip: str, port: int, *, source: str | None = None, keep: bool = False, timeout: float = TIMEOUT):
    """Connect through the proxy and return the backend's name (and the open stream if ``keep``)."""
    kw = {"local_addr": (source, 0)} if source else {}
    reader, writer = await asyncio.wait_for(asyncio.open_connection(ip, port, **kw), timeout)
    line = await asyncio.wait_for(reader.readline(), timeout)
    if keep:
        return line.decode().strip(), (reader, writer)
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, OSError):
        pass
    return line.decode().strip()


async def udp_ask(ip: str, port: int, payload: bytes, *, sock: socket.socket | None = None, timeout: float = TIMEOUT) -> bytes:
    """Send one datagram (from ``sock`` if given, to keep the client port) and await the reply."""
    loop = asyncio.get_running_loop()
    own = sock is None
    if sock is None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    try:
        sock.sendto(payload, (ip, port))  # a small datagram never blocks
        return await asyncio.wait_for(loop.sock_recv(sock, 65535), timeout)  # uvloop has no sock_recvfrom
    finally:
        if own:
            sock.close()


async def wait_for(cond: Callable[[], object], timeout: float = TIMEOUT, what: str = "condition") -> None:
    """Wait until ``cond()`` is truthy, checking every 10 ms; AssertionError after ``timeout``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def make_service(client, name: str, ports: list[dict], *, namespace: str = "default", annotations: dict | None = None, **spec) -> dict:  # type: ignore[no-untyped-def]
    """A selectorless Service (``ports``: dicts with name/port/protocol[/nodePort])."""
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {"ports": ports, **spec},
    }
    return await client.create("services", obj)


async def set_lb_ingress(client, svc: dict, ips: list[str]) -> dict:  # type: ignore[no-untyped-def]
    svc = await client.get("services", svc["metadata"]["name"], svc["metadata"]["namespace"])
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"} for ip in ips]}}
    return await client.update_status("services", svc)


def _endpoint(ep) -> dict:  # type: ignore[no-untyped-def]
    """``ep``: (ip, node) or a dict with ip, node, ready, serving, terminating."""
    if isinstance(ep, tuple):
        ep = {"ip": ep[0], "node": ep[1]}
    cond = {"ready": ep.get("ready", True)}
    if "serving" in ep:
        cond["serving"] = ep["serving"]
    if "terminating" in ep:
        cond["terminating"] = ep["terminating"]
    out = {"addresses": [ep["ip"]], "conditions": cond}
    if ep.get("node"):
        out["nodeName"] = ep["node"]
    return out


async def make_slice(client, service: str, endpoints: list, ports: list[dict], *, name: str | None = None, namespace: str = "default") -> dict:  # type: ignore[no-untyped-def]
    obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name or f"{service}-1", "namespace": namespace, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": ports,
        "endpoints": [_endpoint(e) for e in endpoints],
    }
    return await client.create("endpointslices", obj)


async def update_slice(client, slice_obj: dict, endpoints: list) -> dict:  # type: ignore[no-untyped-def]
    cur = await client.get("endpointslices", slice_obj["metadata"]["name"], slice_obj["metadata"]["namespace"])
    cur["endpoints"] = [_endpoint(e) for e in endpoints]
    return await client.update("endpointslices", cur)


async def make_node(client, name: str, ip: str, labels: dict | None = None) -> dict:  # type: ignore[no-untyped-def]
    node = await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}})
    node["status"] = {"addresses": [{"type": "InternalIP", "address": ip}], "conditions": [{"type": "Ready", "status": "True"}]}
    return await client.update_status("nodes", node)
