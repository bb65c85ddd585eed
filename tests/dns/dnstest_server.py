"""A real DNSServer on 127.0.0.1 (port 0) running in its own thread and event loop.

Tests talk to it with blocking clients (``dns.query.udp/tcp``, ``dig``) from the test thread.
The index is not thread-safe, so changes go through :meth:`ServerThread.call`, which runs a
function in the server's loop and waits for it.
"""

from __future__ import annotations

import asyncio
import threading

from svcnet.dns.config import DNSConfig
from svcnet.dns.index import ClusterIndex
from svcnet.dns.server import DNSServer

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


class ServerThread:
    def __init__(self, config: DNSConfig, index: ClusterIndex, *, use_uvloop: bool = False, **kwargs) -> None:
        self.config = config
        self.index = index
        self.kwargs = kwargs
        self.loop = uvloop.new_event_loop() if (use_uvloop and uvloop) else asyncio.new_event_loop()
        self.server: DNSServer | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="dns-server", daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()

        async def start():
            self.server = DNSServer(self.config, self.index, **self.kwargs)
            await self.server.start("127.0.0.1", 0)

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    @property
    def port(self) -> int:
        assert self.server is not None and self.server.bound_port
        return self.server.bound_port

    def call(self, fn, *args):
        """Run ``fn(*args)`` in the server's loop thread; return its result."""

        async def run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def __exit__(self, *exc) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
