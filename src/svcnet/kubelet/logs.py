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
address (docs/differences.md). Logs are streamed from the file in 64 KiB chunks (``tailLines``
reads blocks from the end), never loaded whole. Following a log reads the file again every
0.2 s (it is a file, not a component: there is nothing to watch) and ends when the container
stops or restarts into a new file, the pod's files go away, or the client disconnects.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

__all__ = ["LogRequestError", "LogServer", "log_files", "parse_log_options", "select_log", "tail", "tail_start"]

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


CHUNK = 64 * 1024


def tail_start(f, size: int, tail_lines: int) -> int:
    """Where the last ``tail_lines`` lines of the open file ``f`` (``size`` bytes) start:
    reads blocks from the end until enough newlines are in (same lines as :func:`tail`)."""
    start = size
    newlines = 0
    while start > 0 and newlines <= tail_lines:
        step = min(CHUNK, start)
        start -= step
        f.seek(start)
        newlines += f.read(step).count(b"\n")
    f.seek(start)
    return size - len(tail(f.read(size - start), tail_lines, None))


class LogServer:
    """``GET /containerLogs/<ns>/<pod>/<container>`` on ``host:port`` (port 0: any free one).

    ``locate(namespace, pod, container)`` returns the container's log directory, or raises
    LogRequestError (unknown pod or container) -- the kubelet knows its pods; ``alive(...)``
    says whether the container still runs (a follow ends when it has stopped)."""

    def __init__(self, locate: Callable[[str, str, str], Path], alive: Callable[[str, str, str], bool] | None = None):
        self.locate = locate
        self.alive = alive or (lambda _ns, _pod, _container: True)
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int = 0) -> int:
        app = web.Application()
        app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._handle)
        # a follow in progress ends within FOLLOW_INTERVAL of the stop
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
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
            f = open(path, "rb")
        except LogRequestError as e:
            return web.Response(status=400, text=str(e))
        except FileNotFoundError:
            return web.Response(status=404, text=f'log of container "{container}" in pod "{pod}" not found')
        follow = opts["follow"] and not opts["previous"]
        limit = opts["limit_bytes"]
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        with f:
            size = os.fstat(f.fileno()).st_size
            offset = 0 if opts["tail_lines"] is None else tail_start(f, size, opts["tail_lines"])
            f.seek(offset)
            await resp.prepare(request)
            sent = 0
            try:
                while limit is None or sent < limit:
                    chunk = f.read(CHUNK if limit is None else min(CHUNK, limit - sent))
                    if chunk:
                        await resp.write(chunk)
                        sent += len(chunk)
                        continue
                    if not follow:
                        break
                    # following: wait for more, unless the client left, the container
                    # restarted into a new file (or its files went away) or it has stopped
                    if request.transport is None or request.transport.is_closing():
                        break
                    if log_files(cdir)[-1:] != [path] or not self.alive(ns, pod, container):
                        if not f.read(1):  # (a last write may have landed just now)
                            break
                        f.seek(-1, os.SEEK_CUR)
                        continue
                    await asyncio.sleep(FOLLOW_INTERVAL)
            except (ConnectionResetError, FileNotFoundError):
                return resp  # the client went away, or the pod's files did
        return await _finish(request, resp)


async def _finish(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    """End a streamed response -- unless its client has gone (nothing to end)."""
    if request.transport is not None and not request.transport.is_closing():
        try:
            await resp.write_eof()
        except ConnectionResetError:
            pass
    return resp
