"""Container logs: which file, which bytes, and the node agent's ``/containerLogs`` endpoint.

Theory of operation
-------------------
The runtime appends a container's stdout+stderr to ``<pod dir>/<container>/<restartCount>.log``
(``runtime.py``). ``kubectl logs`` reaches them as upstream does: the API server's ``pods/log``
subresource proxies to the kubelet of the pod's node, at the node's InternalIP and the port
the kubelet records in ``status.daemonEndpoints.kubeletEndpoint.Port``, path
``/containerLogs/<namespace>/<pod>/<container>``. Supported options: ``previous``,
``tailLines``, ``limitBytes``, ``follow`` (``timestamps`` and ``sinceSeconds`` need per-line
times, which raw process logs do not have: they are refused with 400).

The endpoint is plain HTTP on the node IP without authentication -- in local mode a loopback
address (docs/differences.md). Following a log reads the file again every 0.2 s (it is a
file, not a component: there is nothing to watch) and ends when the container restarts into a
new file, the pod's files go away, or the client disconnects.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

__all__ = ["LogRequestError", "LogServer", "log_files", "parse_log_options", "select_log", "tail"]

log = logging.getLogger(__name__)

FOLLOW_INTERVAL = 0.2
_LOG_NAME = re.compile(r"^(\d+)\.log$")


class LogRequestError(ValueError):
    """A request the endpoint answers with 400 (the text is the message)."""


def log_files(container_dir: Path) -> list[Path]:
    """The container's log files, oldest run first (by restart count)."""
    try:
        names = [(int(m.group(1)), p) for p in container_dir.iterdir() if (m := _LOG_NAME.match(p.name))]
    except FileNotFoundError:
        return []
    return [p for _n, p in sorted(names)]


def select_log(files: list[Path], previous: bool, container: str, pod: str) -> Path:
    """The current run's file, or the one before it with ``previous``; texts as upstream."""
    if previous:
        if len(files) < 2:
            raise LogRequestError(f'previous terminated container "{container}" in pod "{pod}" not found')
        return files[-2]
    if not files:
        raise LogRequestError(f'container "{container}" in pod "{pod}" is waiting to start: ContainerCreating')
    return files[-1]


def tail(data: bytes, tail_lines: int | None, limit_bytes: int | None) -> bytes:
    """The last ``tail_lines`` lines (a final line without a newline counts), then at most
    ``limit_bytes`` bytes from the start of what is left (upstream applies both that way)."""
    if tail_lines is not None:
        if tail_lines <= 0:
            data = b""
        else:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[-tail_lines:])
    if limit_bytes is not None:
        data = data[:limit_bytes]
    return data


def _int_option(query, name: str, minimum: int) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        v = int(raw)
    except ValueError:
        raise LogRequestError(f"{name}: Invalid value: {raw!r}: must be an integer") from None
    if v < minimum:
        raise LogRequestError(f"{name}: Invalid value: {v}: must be greater than or equal to {minimum}")
    return v


def parse_log_options(query) -> dict:
    """``PodLogOptions`` from a query string (a mapping of str -> str)."""
    for unsupported in ("timestamps", "sinceSeconds", "sinceTime"):
        if query.get(unsupported) not in (None, "", "false"):
            raise LogRequestError(f"{unsupported} is not supported by svcnet: process logs carry no per-line times")
    return {
        "follow": query.get("follow") == "true",
        "previous": query.get("previous") == "true",
        "tail_lines": _int_option(query, "tailLines", 0),
        "limit_bytes": _int_option(query, "limitBytes", 1),
    }


class LogServer:
    """``GET /containerLogs/<ns>/<pod>/<container>`` on ``host:port`` (port 0: any free one).

    ``locate(namespace, pod, container)`` returns the container's log directory, or raises
    LogRequestError (unknown pod or container) -- the kubelet knows its pods."""

    def __init__(self, locate: Callable[[str, str, str], Path]):
        self.locate = locate
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int = 0) -> int:
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        ns, pod, container = (request.match_info[k] for k in ("namespace", "pod", "container"))
        try:
            opts = parse_log_options(request.query)
            cdir = self.locate(ns, pod, container)
            path = select_log(log_files(cdir), opts["previous"], container, pod)
            data = path.read_bytes()
        except LogRequestError as e:
            return web.Response(status=400, text=str(e))
        except FileNotFoundError:
            return web.Response(status=404, text=f'log of container "{container}" in pod "{pod}" not found')
        offset = len(data)
        data = tail(data, opts["tail_lines"], opts["limit_bytes"])
        if not opts["follow"] or opts["previous"]:
            return web.Response(body=data, content_type="text/plain")
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)
        await resp.write(data)
        sent = len(data)
        limit = opts["limit_bytes"]
        try:
            while limit is None or sent < limit:
                await asyncio.sleep(FOLLOW_INTERVAL)
                if log_files(cdir)[-1:] != [path]:
                    break  # restarted into a new file, or the pod's files are gone
                with open(path, "rb") as f:
                    f.seek(offset)
                    more = f.read()
                if more:
                    offset += len(more)
                    if limit is not None:
                        more = more[: limit - sent]
                    await resp.write(more)
                    sent += len(more)
        except (ConnectionResetError, FileNotFoundError):
            pass  # the client went away, or the pod's files did
        return resp
