"""A tiny HTTP/1.1 server for the proxy's side endpoints: ``/metrics``, ``/healthz``,
``healthCheckNodePort`` answers.

Theory of operation
-------------------
These endpoints are scraped by Prometheus, load balancers and tests: a request line, some
headers, a small answer. :class:`HttpServer` reads one request per connection (up to
:data:`MAX_HEADER` bytes, within :data:`REQUEST_TIMEOUT` seconds), calls the handler
``handler(method, path) -> (status, headers, body)`` and answers with ``Connection: close``.
Anything malformed gets 400; a handler that raises gets 500. Only GET and HEAD are served.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

__all__ = ["Handler", "HttpServer", "Response"]

log = logging.getLogger(__name__)

#: (status, headers, body)
Response = tuple[int, dict[str, str], bytes]
Handler = Callable[[str, str], Response]

MAX_HEADER = 8192
REQUEST_TIMEOUT = 10.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 500: "Internal Server Error", 503: "Service Unavailable"}


class _HttpConn(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.timer = asyncio.get_running_loop().call_later(REQUEST_TIMEOUT, transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def data_received(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEADER:
                self._reply("GET", (400, {}, b"request header too large\n"))
            return
        line = self.buf[: self.buf.find(b"\r\n")].decode("latin-1")
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            self._reply("GET", (400, {}, b"bad request\n"))
            return
        method, target = parts[0], parts[1]
        if method not in ("GET", "HEAD"):
            self._reply(method, (405, {"Allow": "GET, HEAD"}, b"method not allowed\n"))
            return
        path = target.split("?", 1)[0]
        try:
            resp = self.server.handler(method, path)
        except Exception:
            log.exception("http %s: handler failed", self.server.name)
            resp = (500, {}, b"internal error\n")
        self._reply(method, resp)

    def _reply(self, method: str, resp: Response) -> None:
        status, headers, body = resp
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        hdrs = {"Content-Type": "text/plain; charset=utf-8", **headers}
        hdrs["Content-Length"] = str(len(body))
        hdrs["Connection"] = "close"
        head.extend(f"{k}: {v}" for k, v in hdrs.items())
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        if method != "HEAD":
            data += body
        assert self.transport is not None
        self.transport.write(data)
        self.transport.close()


class HttpServer:
    """Serve ``handler`` on ``host:port`` (port 0: any free port, see :attr:`port`)."""

    def __init__(self, host: str, port: int, handler: Handler, *, name: str = "") -> None:
        self.host = host
        self.port = port
        self.handler = handler
        self.name = name or f"{host}:{port}"
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        """Bind and serve. Raises OSError when the address cannot be bound."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _HttpConn(self), self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
