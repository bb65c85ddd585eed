"""The DNS server's I/O edge: asyncio UDP and TCP listeners around :class:`Responder`.

Theory of operation
-------------------
Everything that decides is in :mod:`svcnet.dns.responder` (wire in, wire out) and
:mod:`svcnet.dns.forward` (upstream exchanges); this module only moves bytes:

- **UDP**: each datagram goes to ``Responder.handle``; a ``bytes`` result is sent back at once
  from ``datagram_received`` (no task, no await: the hot path), ``None`` is dropped, a
  :class:`~svcnet.dns.responder.Deferred` becomes a task that asks the :class:`Forwarder`.
- **TCP** (RFC 7766): 2-byte length framing, several queries per connection (pipelined queries
  are answered as they complete, possibly out of order), an idle timeout, a maximum frame size
  (a longer frame closes the connection: a query never needs more) and a bound on concurrent
  connections (extra connections are closed at once).
- At most ``max_pending`` upstream exchanges are in flight; beyond that the client gets the
  deferred's error (REFUSED, as CoreDNS ``forward`` with ``max_concurrent``).
- Exceptions from the core are bugs: they are logged and the client gets SERVFAIL; the server
  never stops because of one packet.

The loop is the caller's (uvloop when the caller installs it). :meth:`DNSServer.start` can bind
with ``SO_REUSEPORT`` so several worker processes -- each with its own index fed by its own
watch -- can share one port (the kernel spreads UDP flows and TCP connections over them).

Wiring for the owner of the informers::

    index = ClusterIndex.for_config(config)    # or ClusterIndex(track_pods=config.pods == "verified")
    server = DNSServer(config, index)
    await server.start("127.0.0.1", 10053)      # port 0: pick one, see server.bound_port
    # on each watch event:   index.apply(kind, event_type, obj)
    # after initial lists:   index.mark_synced()
    await server.stop()
"""

from __future__ import annotations

import asyncio
import logging
import socket

from svcnet.dns.config import DNSConfig
from svcnet.dns.forward import Forwarder, NoUpstreams, Overloaded, UpstreamError
from svcnet.dns.index import ClusterIndex
from svcnet.dns.responder import Deferred, Responder
from svcnet.dns.wire import header_reply

__all__ = ["DNSServer"]

log = logging.getLogger(__name__)
_SERVFAIL, _REFUSED = 2, 5


class _UDPProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None
        self._handle = server.responder.handle

    def connection_made(self, transport) -> None:
        self.transport = transport
        self._sendto = transport.sendto

    def datagram_received(self, data: bytes, addr) -> None:
        try:
            out = self._handle(data, False)
        except Exception:  # a bug in the core: answer SERVFAIL, keep serving
            log.exception("error answering a UDP query from %s", addr)
            out = header_reply(data, _SERVFAIL)
        if out.__class__ is bytes:
            self._sendto(out, addr)
        elif out is not None:
            self.server._spawn(out, lambda b: self._sendto(b, addr))

    def error_received(self, exc: Exception) -> None:  # ICMP errors from earlier sends
        log.debug("UDP error: %r", exc)


class DNSServer:
    """An authoritative cluster DNS server on UDP and TCP (see the module docstring)."""

    def __init__(
        self,
        config: DNSConfig,
        index: ClusterIndex,
        *,
        forwarder: Forwarder | None = None,
        tcp_idle_timeout: float = 10.0,
        tcp_max_frame: int = 4096,
        tcp_max_connections: int = 256,
        max_pending: int = 1000,
    ) -> None:
        problems = config.validate()
        if problems:
            raise ValueError("invalid DNS config: " + "; ".join(problems))
        if config.pods == "verified" and not index.track_pods:
            raise ValueError("pods verified needs ClusterIndex(track_pods=True)")
        self.config = config
        self.index = index
        self.responder = Responder(config, index)
        self.forwarder = forwarder if forwarder is not None else Forwarder.from_config(config)
        self.tcp_idle_timeout = tcp_idle_timeout
        self.tcp_max_frame = tcp_max_frame
        self.tcp_max_connections = tcp_max_connections
        self.max_pending = max_pending
        self.bound_port: int | None = None
        self.bound_host: str | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._conns: set[asyncio.Task] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 10053, *, reuse_port: bool = False) -> None:
        """Listen on ``host:port`` over UDP and TCP (``port=0``: a free port, both protocols)."""
        loop = asyncio.get_running_loop()
        for attempt in range(20):
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UDPProtocol(self), local_addr=(host, port), reuse_port=reuse_port or None
            )
            bound = transport.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(
                    self._serve_tcp, host, bound, reuse_address=True, reuse_port=reuse_port or None, backlog=512
                )
            except OSError:
                transport.close()
                if port != 0 or attempt == 19:
                    raise
                continue
            break
        self._udp = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:  # room for bursts: a full queue drops queries
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            except OSError:
                pass
        self.bound_host, self.bound_port = host, bound
        log.info("DNS listening on %s:%d (udp+tcp)", host, bound)

    async def stop(self) -> None:
        """Close the listeners, drop open TCP connections and pending upstream exchanges."""
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
        for task in list(self._conns) + list(self._tasks):
            task.cancel()
        for task in list(self._conns) + list(self._tasks):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self._tcp is not None:
            await self._tcp.wait_closed()
            self._tcp = None

    async def __aenter__(self) -> DNSServer:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- upstream exchanges -------------------------------------------------------------------

    def _spawn(self, deferred: Deferred, send) -> asyncio.Task | None:
        if len(self._tasks) >= self.max_pending:
            send(deferred.finish(None) if deferred.kind == "chase" else self._refused(deferred))
            return None
        task = asyncio.get_running_loop().create_task(self._complete(deferred, send))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @staticmethod
    def _refused(deferred: Deferred) -> bytes:
        return header_reply(deferred.request, _REFUSED) or b""

    async def _complete(self, deferred: Deferred, send) -> None:
        try:
            try:
                out = deferred.finish(await self.forwarder.query(deferred.request))
            except NoUpstreams:
                out = deferred.fallback()
            except Overloaded:
                out = deferred.finish(None) if deferred.kind == "chase" else self._refused(deferred)
            except UpstreamError as exc:
                log.debug("upstream failed: %s", exc)
                out = deferred.finish(None)
            send(out)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("error completing an upstream exchange")

    # -- TCP ----------------------------------------------------------------------------------

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._conns) >= self.tcp_max_connections:
            writer.close()
            return
        self._conns.add(task)  # type: ignore[arg-type]
        pending: set[asyncio.Task] = set()

        def send(out: bytes) -> None:
            if not writer.is_closing():
                writer.write(len(out).to_bytes(2, "big") + out)

        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), self.tcp_idle_timeout)
                size = int.from_bytes(head, "big")
                if size == 0 or size > self.tcp_max_frame:
                    break
                data = await asyncio.wait_for(reader.readexactly(size), self.tcp_idle_timeout)
                try:
                    out = self.responder.handle(data, True)
                except Exception:
                    log.exception("error answering a TCP query")
                    out = header_reply(data, _SERVFAIL)
                if out.__class__ is bytes:
                    send(out)
                    await writer.drain()
                elif out is not None:
                    spawned = self._spawn(out, send)
                    if spawned is not None:
                        pending.add(spawned)
                        spawned.add_done_callback(pending.discard)
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._conns.discard(task)  # type: ignore[arg-type]
            if pending:  # the client may half-close after its last query: answer it first
                try:
                    await asyncio.wait(pending, timeout=self.tcp_idle_timeout)
                except asyncio.CancelledError:
                    pass
            writer.close()
