"""Forwarding to upstream resolvers: names outside our zones, ExternalName targets, reverse fallthrough.

Theory of operation
-------------------
Split like dnspython's ``resolver._Resolution`` (style-examples §2): :class:`Exchange` holds
every decision and does no I/O; :class:`Forwarder` is the asyncio driver around it.

- Upstreams are tried in order (the order of ``config.upstreams`` or of the ``nameserver`` lines
  of /etc/resolv.conf). Each attempt uses a fresh random query ID; a reply is accepted only if it
  is a response with that ID and the same question (case-insensitively): anything else counts as
  no reply.
- An attempt goes over UDP first; a truncated (TC) UDP reply is retried over TCP to the *same*
  upstream, so the client gets the whole answer when it has room for it (the responder truncates
  again for a small UDP client). A TC reply over TCP is final: a broken upstream, and the TC is
  passed on (``dns.md`` §1.4, "CNAME External Truncated Lookup").
- Timeouts, network errors and unusable replies fail over to the next upstream; after the last
  one, :class:`UpstreamError`. Any rcode the upstream sends (NXDOMAIN, SERVFAIL...) is a reply,
  relayed as is.
- The relayed reply carries the client's query ID again.
- :class:`ReplyCache`: a small LRU of upstream replies keyed by (name, type, class, DO/CD bits).
  Only NOERROR/NXDOMAIN, non-truncated replies with at least one RR are stored, for the smallest
  TTL among their RRs (for negative answers, min(SOA TTL, SOA MINIMUM), RFC 2308 §5); served
  copies have their TTLs decreased by the time spent in the cache.
- At most ``max_concurrent`` exchanges run at once; beyond that :class:`Overloaded` (CoreDNS
  ``forward`` ``max_concurrent``: the client gets REFUSED).
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import random
import time
from collections.abc import Iterable

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

__all__ = [
    "Exchange",
    "Forwarder",
    "NoUpstreams",
    "Overloaded",
    "ReplyCache",
    "UpstreamError",
    "parse_upstreams",
    "read_resolv_conf",
]

log = logging.getLogger(__name__)
Addr = tuple[str, int]


class UpstreamError(Exception):
    """Every upstream failed (timeouts, network errors, unusable replies)."""


class NoUpstreams(UpstreamError):
    """There is no upstream to ask."""


class Overloaded(UpstreamError):
    """Too many exchanges in flight."""


def parse_upstreams(items: Iterable[str]) -> list[Addr]:
    """``["1.2.3.4:53", "[::1]:5353", "10.0.0.1"]`` -> ``[(host, port), ...]`` (port 53 if absent)."""
    out: list[Addr] = []
    for item in items:
        item = item.strip()
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif item.count(":") == 1:
            host, _, p = item.partition(":")
            port = int(p)
        else:
            host, port = item, 53
        ipaddress.ip_address(host)
        out.append((host, port))
    return out


def read_resolv_conf(path: str = "/etc/resolv.conf") -> list[Addr]:
    """The ``nameserver`` entries of a resolv.conf file (empty if it cannot be read)."""
    out: list[Addr] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver":
                    try:
                        ipaddress.ip_address(parts[1].split("%")[0])
                    except ValueError:
                        continue
                    out.append((parts[1], 53))
    except OSError:
        return []
    return out


def _question_key(wire: bytes) -> tuple[bytes, bytes, int]:
    """(lowercased question name wire, type+class bytes, DO/CD bits) of a query; ValueError if odd."""
    if len(wire) < 17 or wire[4:6] != b"\x00\x01":
        raise ValueError("not a one-question query")
    i = 12
    while wire[i]:
        if wire[i] > 63:
            raise ValueError("compressed or bad question name")
        i += wire[i] + 1
    end = i + 1
    msg = dns.message.from_wire(wire)
    bits = (1 if msg.ednsflags & dns.flags.DO else 0) | (2 if msg.flags & dns.flags.CD else 0) | (4 if msg.edns >= 0 else 0)
    return wire[12:end].lower(), wire[end : end + 4], bits


class Exchange:
    """One query's way through the upstream list (no I/O; see the module docstring).

    Loop: ``step = next_request()``; if None, fail; else send ``step`` and feed the reply (or None
    on timeout/error) to ``result()``, which returns the final reply bytes or None to continue.
    """

    def __init__(self, query: bytes, upstreams: list[Addr], *, rng: random.Random | None = None) -> None:
        if len(query) < 12:
            raise ValueError("short query")
        self.query = query
        self._upstreams = list(upstreams)
        self._rng = rng or random.SystemRandom()
        self._i = 0
        self._tcp = False
        self._qid = b""
        self._question = _question_key(query)
        self.attempts: list[tuple[Addr, bool]] = []

    def next_request(self) -> tuple[Addr, bool, bytes] | None:
        """``(upstream, use_tcp, wire)`` for the next attempt, or None when all have failed."""
        if self._i >= len(self._upstreams):
            return None
        self._qid = self._rng.getrandbits(16).to_bytes(2, "big")
        server = self._upstreams[self._i]
        self.attempts.append((server, self._tcp))
        return server, self._tcp, self._qid + self.query[2:]

    def result(self, reply: bytes | None) -> bytes | None:
        """Feed the reply of the last attempt (None: none came); return the final reply or None."""
        if reply is not None and self._acceptable(reply):
            if reply[2] & 0x02 and not self._tcp:
                self._tcp = True  # truncated over UDP: same upstream again, over TCP
                return None
            return self.query[:2] + reply[2:]
        self._i += 1
        self._tcp = False
        return None

    def _acceptable(self, reply: bytes) -> bool:
        if len(reply) < 12 or reply[:2] != self._qid or not reply[2] & 0x80:
            return False
        if reply[4:6] != b"\x00\x01":
            return reply[2] & 0x02 != 0 and not self._tcp  # some servers drop the question on TC
        name, typeclass = self._question[0], self._question[1]
        n = len(name)
        return reply[12 : 12 + n].lower() == name and reply[12 + n : 16 + n] == typeclass


def _min_ttl(msg: dns.message.Message) -> int | None:
    ttls: list[int] = []
    for section in (msg.answer, msg.authority, msg.additional):
        for rrset in section:
            if rrset.rdtype == dns.rdatatype.SOA and section is msg.authority:
                ttls.append(min(rrset.ttl, *(rd.minimum for rd in rrset)))
            else:
                ttls.append(rrset.ttl)
    return min(ttls) if ttls else None


class ReplyCache:
    """A small LRU of upstream replies that honours their TTLs."""

    def __init__(self, size: int = 1024, *, max_ttl: int = 3600, clock=time.monotonic) -> None:
        self.size = size
        self.max_ttl = max_ttl
        self._clock = clock
        self._data: collections.OrderedDict[tuple, tuple[bytes, float, float]] = collections.OrderedDict()

    def get(self, query: bytes) -> bytes | None:
        try:
            key = _question_key(query)
        except (ValueError, IndexError, dns.exception.DNSException):
            return None
        entry = self._data.get(key)
        if entry is None:
            return None
        wire, stored, expires = entry
        now = self._clock()
        if now >= expires:
            del self._data[key]
            return None
        self._data.move_to_end(key)
        msg = dns.message.from_wire(wire)
        age = int(now - stored)
        for section in (msg.answer, msg.authority, msg.additional):
            for rrset in section:
                rrset.ttl = max(0, rrset.ttl - age)
        msg.id = int.from_bytes(query[:2], "big")
        return msg.to_wire()

    def put(self, query: bytes, reply: bytes) -> None:
        if self.size <= 0 or len(reply) < 12 or reply[2] & 0x02 or reply[3] & 0x0F not in (0, 3):
            return
        try:
            key = _question_key(query)
            msg = dns.message.from_wire(reply)
        except (ValueError, IndexError, dns.exception.DNSException):
            return
        ttl = _min_ttl(msg)
        if not ttl:
            return
        now = self._clock()
        self._data[key] = (reply, now, now + min(ttl, self.max_ttl))
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class _UDPClient(asyncio.DatagramProtocol):
    def __init__(self, future: asyncio.Future) -> None:
        self.future = future

    def datagram_received(self, data: bytes, addr) -> None:
        if not self.future.done():
            self.future.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.future.done():
            self.future.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.future.done():
            self.future.set_exception(exc or ConnectionError("closed"))


class Forwarder:
    """Asyncio driver: sends :class:`Exchange` attempts over UDP/TCP, with a :class:`ReplyCache`."""

    def __init__(
        self,
        upstreams: list[Addr] | None,
        *,
        timeout: float = 2.0,
        cache_size: int = 1024,
        max_concurrent: int = 1000,
        resolv_conf: str = "/etc/resolv.conf",
    ) -> None:
        self._configured = upstreams
        self._resolv_conf = resolv_conf
        self.timeout = timeout
        self.cache = ReplyCache(cache_size)
        self.max_concurrent = max_concurrent
        self.in_flight = 0

    @classmethod
    def from_config(cls, config) -> Forwarder:
        ups = None if config.upstreams is None else parse_upstreams(config.upstreams)
        return cls(ups, timeout=config.upstream_timeout)

    @property
    def upstreams(self) -> list[Addr]:
        """The upstreams in use (resolv.conf is re-read each time when not configured)."""
        if self._configured is not None:
            return list(self._configured)
        return read_resolv_conf(self._resolv_conf)

    async def query(self, wire: bytes) -> bytes:
        """Send ``wire`` upstream; return the reply with ``wire``'s ID.

        :raises NoUpstreams: none configured. :raises Overloaded: too many in flight.
        :raises UpstreamError: every upstream failed.
        """
        upstreams = self.upstreams
        if not upstreams:
            raise NoUpstreams()
        cached = self.cache.get(wire)
        if cached is not None:
            return cached
        if self.in_flight >= self.max_concurrent:
            raise Overloaded()
        try:
            exchange = Exchange(wire, upstreams)
        except (ValueError, IndexError, dns.exception.DNSException) as exc:
            raise UpstreamError(f"cannot forward this query: {exc}") from exc
        self.in_flight += 1
        try:
            while (step := exchange.next_request()) is not None:
                server, tcp, request = step
                try:
                    reply = await asyncio.wait_for(
                        self._tcp(server, request) if tcp else self._udp(server, request), self.timeout
                    )
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
                    log.debug("upstream %s:%s (%s) failed: %r", *server, "tcp" if tcp else "udp", exc)
                    reply = None
                final = exchange.result(reply)
                if final is not None:
                    self.cache.put(wire, final)
                    return final
        finally:
            self.in_flight -= 1
        raise UpstreamError(f"no usable reply from {', '.join(f'{h}:{p}' for h, p in upstreams)}")

    @staticmethod
    async def _udp(server: Addr, request: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        transport, _ = await loop.create_datagram_endpoint(lambda: _UDPClient(future), remote_addr=server)
        try:
            transport.sendto(request)
            return await future
        finally:
            transport.close()

    @staticmethod
    async def _tcp(server: Addr, request: bytes) -> bytes:
        reader, writer = await asyncio.open_connection(*server)
        try:
            writer.write(len(request).to_bytes(2, "big") + request)
            await writer.drain()
            size = int.from_bytes(await reader.readexactly(2), "big")
            return await reader.readexactly(size)
        finally:
            writer.close()
