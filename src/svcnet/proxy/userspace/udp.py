"""The UDP data plane: one socket per listener, one connected backend socket per client.

Theory of operation
-------------------
A :class:`UdpListener` owns one datagram socket on ``ip:port`` (upstream userspace mode:
``udpProxySocket``). Like the TCP plane it runs on readiness callbacks over raw non-blocking
sockets, with no coroutine per packet.

- **Client cache.** The first datagram from a client ``addr:port`` picks an endpoint through
  the listener's :class:`~svcnet.proxy.userspace.balancer.Picker` (scheduler + ClientIP
  affinity) and opens a socket *connected* to it: a :class:`_UdpSession`, the return path.
  Later datagrams of that client reuse it. Replies read from the backend socket are sent back
  to the client from the listener socket, so they come from the service address.
- **Idle timeout.** Every datagram in either direction refreshes the session; a session idle
  for ``idle_timeout`` (upstream default 250 ms, configurable) is closed and uncounted, so the
  client's next datagram is load-balanced anew (subject to affinity). One timer per session is
  re-armed lazily for the remaining time instead of being reset on every packet.
- **Failure.** An ICMP port-unreachable from the endpoint surfaces as ``ECONNREFUSED`` on the
  connected socket: the session is counted as a connect failure, its affinity record dropped and
  the session closed, so the next datagram picks again. UDP gives no other signal to retry on.
- **Back-pressure** is UDP's: a datagram that cannot be sent at once (``EAGAIN``) is dropped.

Closing a listener ends its sessions too: replies could no longer be sent from the service
address. Removing an endpoint does not: its sessions live until they go idle (draining).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from svcnet.proxy.userspace.balancer import Picker, Target
from svcnet.proxy.userspace.reactor import EPOLLIN, Reactor, reactor_for

__all__ = ["DEFAULT_UDP_IDLE_TIMEOUT", "UdpListener"]

log = logging.getLogger(__name__)

#: kube-proxy's ``udpIdleTimeout`` default
DEFAULT_UDP_IDLE_TIMEOUT = 0.25
#: datagrams handled per readiness callback
RECV_BATCH = 64
MAX_DATAGRAM = 65535


class _UdpSession:
    __slots__ = ("client", "fd", "last", "listener", "sock", "target", "timer", "token")

    def __init__(self, listener: UdpListener, client: tuple, target: Target, token: Any, sock: socket.socket) -> None:
        self.listener = listener
        self.client = client
        self.target = target
        self.token = token
        self.sock = sock
        self.fd = sock.fileno()
        self.last = listener.loop.time()
        self.timer = listener.loop.call_later(listener.idle_timeout, self._check_idle)
        listener.reactor.register(self.fd, self._on_reply, EPOLLIN)  # level-triggered

    def send(self, data: bytes) -> None:
        try:
            self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            return  # dropped, as a full socket buffer drops
        except ConnectionRefusedError:
            self.refused()
            return
        except OSError as e:
            log.debug("udp %s: send to %s: %s", self.listener.name, self.target, e)
            return
        n = len(data)
        st = self.target.stats
        st.packets_in += 1
        st.bytes_in += n
        st = self.listener.picker.stats
        st.packets_in += 1
        st.bytes_in += n
        self.last = self.listener.loop.time()

    def _on_reply(self, ev: int) -> None:
        lis = self.listener
        lsock = lis.sock
        st_ep = self.target.stats
        st_svc = lis.picker.stats
        for _ in range(RECV_BATCH):
            try:
                data = self.sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except ConnectionRefusedError:
                self.refused()
                return
            except OSError as e:
                log.debug("udp %s: recv from %s: %s", lis.name, self.target, e)
                self.close()
                return
            if lsock is None:
                break
            try:
                lsock.sendto(data, self.client)
            except OSError:
                continue
            st_ep.packets_out += 1
            st_ep.bytes_out += len(data)
            st_svc.packets_out += 1
            st_svc.bytes_out += len(data)
        self.last = lis.loop.time()

    def _check_idle(self) -> None:
        loop = self.listener.loop
        left = self.last + self.listener.idle_timeout - loop.time()
        if left > 0:
            self.timer = loop.call_later(left, self._check_idle)
        else:
            self.timer = None
            self.close()

    def refused(self) -> None:
        """ICMP port unreachable: the endpoint does not listen."""
        picker = self.listener.picker
        self._teardown()
        picker.failed(self.target, self.token)
        aff = getattr(picker, "affinity", None)
        if aff:
            rec = aff.get(self.client[0])
            if rec is not None and rec[0] is self.target.dest:
                del aff[self.client[0]]

    def close(self) -> None:
        if self._teardown():
            self.listener.picker.closed(self.target, self.token, self.client[0])

    def _teardown(self) -> bool:
        lis = self.listener
        if lis.sessions.get(self.client) is not self:
            return False
        del lis.sessions[self.client]
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        lis.reactor.close(self.sock)
        return True


class UdpListener:
    """One ``ip:port`` UDP listener in front of a :class:`Picker`."""

    def __init__(
        self,
        ip: str,
        port: int,
        picker: Picker,
        *,
        idle_timeout: float = DEFAULT_UDP_IDLE_TIMEOUT,
        name: str = "",
    ) -> None:
        self.ip = ip
        self.port = port
        self.picker = picker
        self.idle_timeout = idle_timeout
        self.name = name or f"{ip}:{port}"
        self.sessions: dict[tuple, _UdpSession] = {}
        self.sock: socket.socket | None = None
        self.loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]
        self.reactor: Reactor = None  # type: ignore[assignment]
        self.dropped = 0

    def start(self) -> None:
        """Bind. Raises OSError (EADDRINUSE, EACCES...)."""
        self.loop = asyncio.get_running_loop()
        self.reactor = reactor_for(self.loop)
        family = socket.AF_INET6 if ":" in self.ip else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
        try:
            sock.bind((self.ip, self.port))
        except OSError:
            sock.close()
            raise
        self.sock = sock
        if not self.port:
            self.port = sock.getsockname()[1]
        self.reactor.register(sock.fileno(), self._on_datagram, EPOLLIN)  # level-triggered

    def close(self) -> None:
        if self.sock is not None:
            self.reactor.close(self.sock)
            self.sock = None
        for s in list(self.sessions.values()):
            s.close()

    close_all = close

    def flush_stats(self) -> None:
        """UDP counts as it goes (nothing buffered)."""

    @property
    def listening(self) -> bool:
        return self.sock is not None

    def _on_datagram(self, ev: int) -> None:
        sock = self.sock
        for _ in range(RECV_BATCH):
            if sock is None:
                return
            try:
                data, client = sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:  # an ICMP error for an earlier reply to a client
                log.debug("udp %s: recvfrom: %s", self.name, e)
                continue
            sess = self.sessions.get(client)
            if sess is None:
                sess = self._open(client)
                if sess is None:
                    self.dropped += 1
                    continue
            sess.send(data)

    def _open(self, client: tuple) -> _UdpSession | None:
        picker = self.picker
        tried: tuple[Target, ...] = ()
        for _ in range(4):
            target = picker.pick(client[0], client[1], self.ip, tried)
            if target is None:
                return None
            token = picker.opened(target, "UDP")
            s = None
            try:
                s = socket.socket(target.family, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
                s.connect(target.addr)
            except OSError as e:
                if s is not None:
                    s.close()
                log.debug("udp %s: dial %s: %s", self.name, target, e)
                picker.failed(target, token)
                tried += (target,)
                picker.stats.retries += 1
                continue
            sess = _UdpSession(self, client, target, token, s)
            self.sessions[client] = sess
            return sess
        return None

    def __repr__(self) -> str:
        return f"UdpListener({self.name} sessions={len(self.sessions)})"
