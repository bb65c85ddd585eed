"""Run the API server: bind, serve, stop. The thin edge around :mod:`svcnet.apiserver.http`."""

from __future__ import annotations

import socket
import ssl

from aiohttp import web

from svcnet.apiserver.auth import TokenAuth
from svcnet.apiserver.certs import ServingCerts
from svcnet.apiserver.http import make_app
from svcnet.apiserver.registry import Registry

__all__ = ["APIServer"]


class APIServer:
    """``await start()`` binds ``host:port`` (port 0 picks a free one, see :attr:`port`)."""

    def __init__(
        self,
        registry: Registry,
        *,
        host: str = "127.0.0.1",
        port: int = 6443,
        auth: TokenAuth | None = None,
        certs: ServingCerts | None = None,
    ):
        self.registry = registry
        self.host = host
        self.port = port
        self.auth = auth
        self.certs = certs
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self.certs else "http"
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            raise OSError(e.errno, f"cannot listen on {self.host}:{self.port}: {e.strerror}") from None
        sock.listen(1024)
        self.port = sock.getsockname()[1]
        app = make_app(self.registry, auth=self.auth, server_address=f"{self.host}:{self.port}")
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        ctx = None
        if self.certs is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.certs.cert, self.certs.key)
        site = web.SockSite(self._runner, sock, ssl_context=ctx)
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
