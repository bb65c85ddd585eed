"""The ``pods/log`` subresource: find the kubelet that has the log, then stream it through.

As upstream (``pkg/registry/core/pod/rest/log.go`` and ``pod.LogLocation``): the container
defaults to the pod's only one; the pod must be bound to a node; the log comes from that
node's kubelet at its InternalIP and ``status.daemonEndpoints.kubeletEndpoint.Port``, path
``/containerLogs/<ns>/<pod>/<container>`` with the request's query passed on. The error texts
are upstream's. :func:`log_location` is pure; :func:`kubelet_log` asks the kubelet (the
in-process client transport uses it too); :func:`stream_log` passes it on over HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from svcnet.api.errors import APIError, BadRequest, NotFound

__all__ = ["KUBELET_QUERY", "kubelet_log", "kubelet_session", "log_location", "stream_log"]

log = logging.getLogger(__name__)

#: the PodLogOptions a kubelet is asked for (the rest of the query is the API server's)
KUBELET_QUERY = ("follow", "previous", "tailLines", "limitBytes", "timestamps", "sinceSeconds", "sinceTime")


def log_location(pod: dict, node: dict | None, container: str | None) -> tuple[str, int, str] | None:
    """``(host, port, path)`` of the container's log on its kubelet, None for a pod not bound
    to a node yet (upstream answers an empty log); raises BadRequest."""
    md = pod.get("metadata") or {}
    name, ns = md.get("name", ""), md.get("namespace", "")
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    if not container:
        if len(names) != 1:
            raise BadRequest(f"a container name must be specified for pod {name}, choose one of: [{' '.join(names)}]")
        container = names[0]
    elif container not in names:
        raise BadRequest(f"container {container} is not valid for pod {name}")
    node_name = (pod.get("spec") or {}).get("nodeName")
    if not node_name:
        return None
    if node is None:
        raise NotFound(f'nodes "{node_name}" not found')
    status = node.get("status") or {}
    host = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), None)
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port") or 0
    if not host or not port:
        raise BadRequest(f"node {node_name} does not serve container logs (no InternalIP or kubelet port in its status)")
    return host, int(port), f"/containerLogs/{ns}/{name}/{container}"


#: how often a quiet log stream checks that its client is still there
CLIENT_CHECK_INTERVAL = 1.0


def kubelet_session() -> aiohttp.ClientSession:
    """For talking to kubelets: no pool limit (each open follow holds a connection)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def kubelet_log(session: aiohttp.ClientSession, host: str, port: int, path: str, query: dict) -> AsyncIterator[bytes]:
    """The kubelet's answer, chunk by chunk as it comes (``follow`` streams); a kubelet error
    is raised as the API error the API server answers with (its text kept). While nothing
    comes, yields ``b""`` every CLIENT_CHECK_INTERVAL so a caller can check its own client."""
    query = {k: str(v) for k, v in query.items() if k in KUBELET_QUERY and v is not None}
    try:
        async with session.get(f"http://{host}:{port}{path}", params=query, timeout=aiohttp.ClientTimeout(total=None, sock_connect=5)) as resp:
            if resp.status != 200:
                text = (await resp.text()).strip() or f"kubelet answered {resp.status}"
                raise NotFound(text) if resp.status == 404 else BadRequest(text)
            while True:
                try:
                    chunk = await asyncio.wait_for(resp.content.readany(), CLIENT_CHECK_INTERVAL)
                except asyncio.TimeoutError:
                    yield b""
                    continue
                if not chunk:
                    return
                yield chunk
    except aiohttp.ClientError as e:
        raise BadRequest(f"cannot reach the kubelet at {host}:{port}: {e}") from None


async def stream_log(request: web.Request, session: aiohttp.ClientSession, host: str, port: int, path: str) -> web.StreamResponse:
    """Copy the kubelet's answer to an API client. Headers go out with the first bytes, so a
    kubelet error before them still becomes a Status response; after them, a failure just
    ends the stream (the status line is gone). Ends when the client leaves."""
    out: web.StreamResponse | None = None
    logs = kubelet_log(session, host, port, path, dict(request.query))
    try:
        async for chunk in logs:
            if request.transport is None or request.transport.is_closing():
                break  # the client left: let go of the kubelet's connection
            if out is None:
                out = web.StreamResponse(headers={"Content-Type": "text/plain"})
                await out.prepare(request)
            if chunk:
                await out.write(chunk)
    except (APIError, ConnectionResetError) as e:
        if out is None:
            raise
        log.info("log stream of %s ended early: %s", path, e)
        return out
    finally:
        await logs.aclose()
    if out is None:  # an empty log
        return web.Response(body=b"", content_type="text/plain")
    if request.transport is not None and not request.transport.is_closing():
        try:
            await out.write_eof()
        except ConnectionResetError:
            pass  # the client left meanwhile
    return out
