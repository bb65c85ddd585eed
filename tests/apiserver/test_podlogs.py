"""``pods/log``: where the log is (pure, upstream's texts), then through a real API server and
the in-process client from a real kubelet log server on loopback."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from svcnet.api.errors import BadRequest, NotFound
from svcnet.apiserver.podlogs import log_location
from svcnet.client.http import client_from_kubeconfig
from svcnet.client.inprocess import local_client
from svcnet.controlplane import ControlPlane, ControlPlaneConfig
from svcnet.kubelet.logs import LogRequestError, LogServer


def pod(containers=("app",), node="n1") -> dict:
    spec: dict = {"containers": [{"name": c, "image": "svcnet/echo"} for c in containers]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": "web", "namespace": "default"}, "spec": spec}


def node(port=10250, ip="127.0.0.1") -> dict:
    addrs = [{"type": "InternalIP", "address": ip}] if ip else []
    return {"metadata": {"name": "n1"}, "status": {"addresses": addrs, "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}


@pytest.mark.parametrize(
    "p, n, container, want",
    [
        (pod(), node(), None, ("127.0.0.1", 10250, "/containerLogs/default/web/app")),
        (pod(("a", "b")), node(), "b", ("127.0.0.1", 10250, "/containerLogs/default/web/b")),
    ],
)
def test_log_location(p, n, container, want):
    assert log_location(p, n, container) == want


def test_a_pod_not_scheduled_yet_has_an_empty_log():
    assert log_location(pod(node=None), None, None) is None


@pytest.mark.parametrize(
    "p, n, container, error, text",
    [
        (pod(("a", "b")), node(), None, BadRequest, "a container name must be specified for pod web, choose one of: [a b]"),
        (pod(), node(), "x", BadRequest, "container x is not valid for pod web"),
        (pod(), None, None, NotFound, 'nodes "n1" not found'),
        (pod(), node(port=0), None, BadRequest, "node n1 does not serve container logs (no InternalIP or kubelet port in its status)"),
        (pod(), node(ip=None), None, BadRequest, "node n1 does not serve container logs (no InternalIP or kubelet port in its status)"),
    ],
)
def test_log_location_errors(p, n, container, error, text):
    with pytest.raises(error) as e:
        log_location(p, n, container)
    assert str(e.value) == text


@pytest.fixture
async def kubelet(tmp_path):
    """A log server with ``default/web``'s container ``app`` having logged two lines."""
    cdir = tmp_path / "logs" / "app"
    cdir.mkdir(parents=True)
    (cdir / "0.log").write_bytes(b"hello\nworld\n")

    def locate(ns: str, name: str, container: str) -> Path:
        if container != "app":
            raise LogRequestError(f"container {container} is not valid for pod {name}")
        return cdir

    srv = LogServer(locate)
    port = await srv.start("127.0.0.1", 0)
    yield port
    await srv.stop()


async def register(client, port: int) -> None:
    await client.create("nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
    n = await client.get("nodes", "n1")
    n["status"] = node(port)["status"]
    await client.update_status("nodes", n)
    await client.create("pods", {"apiVersion": "v1", "kind": "Pod", **pod()})


async def read_all(client, name="web", **kw) -> bytes:
    return b"".join([chunk async for chunk in client.logs(name, **kw)])


async def test_logs_over_http_through_the_api_server(tmp_path, kubelet):
    cp = ControlPlane(ControlPlaneConfig(state="memory:", api_port=0, kubeconfig=str(tmp_path / "kubeconfig")))
    await cp.start()
    client = client_from_kubeconfig(str(tmp_path / "kubeconfig"))
    try:
        await register(client, kubelet)
        assert await read_all(client) == b"hello\nworld\n"
        assert await read_all(client, tail_lines=1) == b"world\n"
        with pytest.raises(BadRequest, match="^container x is not valid for pod web$"):
            await read_all(client, container="x")  # checked by the API server
        with pytest.raises(BadRequest, match='^previous terminated container "app" in pod "web" not found$'):
            await read_all(client, previous=True)  # checked by the kubelet, its text passed on
        with pytest.raises(NotFound, match='^pods "nope" not found$'):
            await read_all(client, "nope")
    finally:
        await client.close()
        await cp.stop()


async def test_logs_through_the_in_process_client(kubelet):
    client = local_client()
    try:
        await register(client, kubelet)
        assert await read_all(client, limit_bytes=5) == b"hello"
    finally:
        await client.close()


async def test_a_follow_ends_cleanly_when_the_kubelet_goes_away(tmp_path):
    """Mid-stream, the status line is already sent: the stream just ends (no second response
    written into it), and the client's iteration finishes."""
    cdir = tmp_path / "app"
    cdir.mkdir()
    (cdir / "0.log").write_bytes(b"first\n")
    srv = LogServer(lambda ns, name, c: cdir)
    port = await srv.start("127.0.0.1", 0)
    cp = ControlPlane(ControlPlaneConfig(state="memory:", api_port=0, kubeconfig=str(tmp_path / "kubeconfig")))
    await cp.start()
    client = client_from_kubeconfig(str(tmp_path / "kubeconfig"))
    try:
        await register(client, port)
        stream = client.logs("web", follow=True)
        assert await asyncio.wait_for(stream.__anext__(), 10) == b"first\n"
        await srv.stop()
        rest = await asyncio.wait_for(read_rest(stream), 20)
        assert rest == b""
    finally:
        await client.close()
        await cp.stop()


async def read_rest(stream) -> bytes:
    return b"".join([chunk async for chunk in stream])
