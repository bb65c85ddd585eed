"""Wire in, wire out: the sans-I/O core of the DNS server, with the pre-encoded answer cache.

Theory of operation
-------------------
:meth:`Responder.handle` takes the bytes of one query (and whether it came over TCP) and returns

- ``bytes``: the reply to send;
- ``None``: send nothing (no header to answer, or the packet is itself a response);
- a :class:`Deferred`: the answer needs an upstream exchange (a forwarded name, or an ExternalName
  chase). The driver sends ``deferred.request`` upstream and calls ``deferred.finish(reply)``
  (``reply`` None if every upstream failed) or ``deferred.fallback()`` when there is no upstream
  at all; both return the bytes to send. No I/O happens here (style-examples §2 ``_Resolution``).

The hot path (the reason this module exists; ``reference/dns.md`` §4):

1. A hand-written parser reads only the header and the question of the common shape -- QR=0,
   opcode QUERY, one question, no answer/authority records, at most one additional record which
   is an EDNS(0) OPT, nothing after it. Anything else takes the slow path (dnspython's full
   parser, which answers FORMERR for what it cannot parse).
2. The cache key is ``lowercased qname wire + qtype + qclass`` and a flag byte (RD, CD, OPT
   present, DO). A hit is served by :func:`svcnet.dns.wire.patch` (query ID and question bytes
   copied into the template); no dnspython object is made.
3. Misses run :func:`svcnet.dns.answer.resolve` on the upper-case *canary* of the query name
   (labels cut from the query bytes: no dnspython parse) and store the rendered template (see
   :mod:`svcnet.dns.wire`). Replies needing upstream data are never cached here (the forwarder
   has its own TTL-honouring cache); they are re-answered with the query's own spelling through
   :func:`svcnet.dns.answer.answer`.
4. The UDP size limit is 512 without EDNS, else the client's payload clamped to 512..4096; TCP
   allows 65535. Full templates are stored once; a template longer than the limit is truncated
   (TC) for that limit, and the truncated rendering is cached too.
5. Invalidation: the cache belongs to one :attr:`ClusterIndex.generation`; any change to the
   index (or the sync) empties it on the next query. The cache is bounded (FIFO eviction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
import struct
from itertools import islice

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode

from svcnet.dns.answer import EDNS_PAYLOAD, Forward, NeedUpstream, Reply, answer, error_response, resolve
from svcnet.dns.config import DNSConfig
from svcnet.dns.index import ClusterIndex
from svcnet.dns.wire import Template, canary_name, header_reply, patch, render, render_parts

__all__ = ["Deferred", "MAX_UDP_PAYLOAD", "Responder"]

#: The largest UDP reply we send, whatever the client's EDNS payload says.
MAX_UDP_PAYLOAD = 4096
_FORMERR, _NOTIMP, _SERVFAIL = dns.rcode.FORMERR, dns.rcode.NOTIMP, dns.rcode.SERVFAIL
_TYPECLASS = struct.Struct("!HH")


@dataclass(slots=True)
class Deferred:
    """A reply that waits for an upstream exchange (see the module docstring)."""

    kind: str  # "forward" (relay the client's query) or "chase" (ExternalName target lookup)
    request: bytes  # the query to send upstream
    _finish: Callable[[bytes | None], bytes] = field(repr=False)
    _fallback: Callable[[], bytes] = field(repr=False)

    def finish(self, reply: bytes | None) -> bytes:
        """The bytes for the client, given the upstream reply (None: all upstreams failed)."""
        return self._finish(reply)

    def fallback(self) -> bytes:
        """The bytes for the client when no upstream is configured."""
        return self._fallback()


def _udp_limit(payload: int) -> int:
    return 512 if payload < 512 else MAX_UDP_PAYLOAD if payload > MAX_UDP_PAYLOAD else payload


class Responder:
    """Answers DNS wire queries from a :class:`ClusterIndex` under a :class:`DNSConfig`."""

    def __init__(self, config: DNSConfig, index: ClusterIndex, *, cache_size: int = 200_000) -> None:
        self.config = config
        self.index = index
        self.cache_size = cache_size
        self._cache: dict[bytes, Template] = {}
        self._trunc: dict[tuple[bytes, int], Template] = {}
        self._big: dict[bytes, tuple] = {}  # render_parts arguments of templates over 512 bytes
        self._gen = index.generation
        self.hits = 0
        self.misses = 0

    def clear(self) -> None:
        self._cache.clear()
        self._trunc.clear()
        self._big.clear()
        self._gen = self.index.generation

    def handle(self, data: bytes, tcp: bool = False) -> bytes | None | Deferred:
        """Answer one query (see the module docstring for the three kinds of result)."""
        if self.index.generation != self._gen:
            self.clear()
        n = len(data)
        # Rule 1: header says QR=0, opcode 0, QD=1, AN=0, NS=0.
        if n < 17 or data[2] & 0xF8 or data[4:10] != b"\x00\x01\x00\x00\x00\x00":
            return self._slow(data, tcp)
        i = 12
        try:
            length = data[i]
            while length:
                if length > 63:
                    return self._slow(data, tcp)
                i += length + 1
                length = data[i]
        except IndexError:
            return self._slow(data, tcp)
        qend = i + 1
        if qend > 267:  # names are at most 255 bytes: let the full parser say FORMERR
            return self._slow(data, tcp)
        p = qend + 4
        ar = data[11] | (data[10] << 8)
        if ar == 0 and p == n:
            flag = (data[2] & 0x01) | (data[3] & 0x10)
            limit = 65535 if tcp else 512
        elif (
            ar == 1
            and p + 11 <= n
            and data[p] == 0
            and data[p + 1] == 0
            and data[p + 2] == 41
            and data[p + 6] == 0
            and p + 11 + ((data[p + 9] << 8) | data[p + 10]) == n
        ):
            flag = (data[2] & 0x01) | (data[3] & 0x10) | 0x02 | (data[p + 7] & 0x80)
            limit = 65535 if tcp else _udp_limit((data[p + 3] << 8) | data[p + 4])
        else:
            return self._slow(data, tcp)
        key = data[12:qend].lower() + data[qend:p] + bytes((flag,))
        template = self._cache.get(key)
        if template is None:
            return self._miss(data, tcp, key, limit, data[12:qend], None)
        self.hits += 1
        if len(template[0]) > limit:
            template = self._truncated(key, limit, template)
        if template[1]:
            return patch(template, data[:2], data[12:qend])
        wire = template[0]
        return data[:2] + wire[2:12] + data[12:qend] + wire[qend:]

    # -- the slow path ------------------------------------------------------------------------

    def _slow(self, data: bytes, tcp: bool) -> bytes | None | Deferred:
        if len(data) < 12 or data[2] & 0x80:
            return None
        if (data[2] >> 3) & 0xF != dns.opcode.QUERY:
            return header_reply(data, _NOTIMP)
        try:
            q = dns.message.from_wire(data)
        except (dns.exception.DNSException, ValueError, IndexError, UnicodeError):
            return header_reply(data, _FORMERR)
        if len(q.question) != 1:
            return header_reply(data, _FORMERR)
        if q.edns > 0:  # RFC 6891 §6.1.3: unknown EDNS version -> BADVERS, with our OPT
            resp = error_response(q, dns.rcode.BADVERS)
            return render(resp)[0]
        question = q.question[0]
        flag = (1 if q.flags & dns.flags.RD else 0) | (0x10 if q.flags & dns.flags.CD else 0)
        if q.edns == 0:
            flag |= 0x02 | (0x80 if q.ednsflags & dns.flags.DO else 0)
            limit = 65535 if tcp else _udp_limit(q.payload)
        else:
            limit = 65535 if tcp else 512
        qname_wire = question.name.to_wire()
        key = qname_wire.lower() + _TYPECLASS.pack(question.rdtype, question.rdclass) + bytes((flag,))
        return self._miss(data, tcp, key, limit, qname_wire, q)

    def _miss(self, data: bytes, tcp: bool, key: bytes, limit: int, qname_wire: bytes, q):
        """Answer a cache miss from the key's parts: no dnspython parse unless it needs upstream."""
        self.misses += 1
        labels = []
        i = 0
        while qname_wire[i]:
            labels.append(qname_wire[i + 1 : i + 1 + qname_wire[i]])
            i += qname_wire[i] + 1
        qtype, qclass = _TYPECLASS.unpack_from(key, len(key) - 5)
        canary = canary_name(tuple(labels))
        result = resolve(self.index, self.config, canary, qtype, qclass)
        if not isinstance(result, Reply):
            if q is None:
                try:
                    q = dns.message.from_wire(data)
                except (dns.exception.DNSException, ValueError, IndexError, UnicodeError):
                    return header_reply(data, _FORMERR)
            return self._deferred(q, data, limit)
        flag = key[-1]
        flags = 0x8000 | (0x0400 if result.aa else 0) | (0x0200 if result.tc else 0) | (flag & 0x01) << 8 | (flag & 0x10) | result.rcode
        edns = (EDNS_PAYLOAD, 0x8000 if flag & 0x80 else 0) if flag & 0x02 else None
        parts = (flags, (canary, qtype, qclass), (result.answer, result.authority, result.additional), edns)
        template = render_parts(0, *parts)
        if len(self._cache) >= self.cache_size:
            for old in list(islice(self._cache, max(1, self.cache_size // 10))):
                del self._cache[old]
                self._big.pop(old, None)
        self._cache[key] = template
        if len(template[0]) > 512:  # keep what it takes to truncate it for small clients
            self._big[key] = parts
        if len(template[0]) > limit:
            template = self._truncated(key, limit, template)
        return patch(template, data[:2], qname_wire)

    def _truncated(self, key: bytes, limit: int, full: Template) -> Template:
        t = self._trunc.get((key, limit))
        if t is None:
            t = render_parts(0, *self._big[key], limit)
            if len(self._trunc) >= 10_000:
                self._trunc.clear()
            self._trunc[(key, limit)] = t
        return t

    def _deferred(self, q: dns.message.Message, data: bytes, limit: int) -> bytes | Deferred:
        # Re-answer with the query's own spelling: the reply is built once, never cached.
        result = answer(self.index, self.config, q)
        if isinstance(result, dns.message.Message):  # the index changed under us: plain answer
            return render(result, limit)[0]
        if isinstance(result, NeedUpstream):
            need = result

            def finish_chase(reply: bytes | None) -> bytes:
                msg = None
                if reply is not None:
                    try:
                        msg = dns.message.from_wire(reply)
                    except (dns.exception.DNSException, ValueError, IndexError, UnicodeError):
                        msg = None
                return render(need.result(msg), limit)[0]

            def fallback_chase() -> bytes:
                return render(need.result(None), limit)[0]

            return Deferred("chase", need.request().to_wire(), finish_chase, fallback_chase)
        assert isinstance(result, Forward)
        fwd = result

        def finish_forward(reply: bytes | None) -> bytes:
            if reply is None:
                return render(error_response(q, _SERVFAIL), limit)[0]
            if len(reply) <= limit:
                return data[:2] + reply[2:]
            try:  # too big for this client: truncate it ourselves (TC), keep what fits
                msg = dns.message.from_wire(reply)
            except (dns.exception.DNSException, ValueError, IndexError, UnicodeError):
                return render(error_response(q, _SERVFAIL), limit)[0]
            msg.id = q.id
            return render(msg, limit)[0]

        def fallback_forward() -> bytes:
            return render(fwd.fallback, limit)[0]

        return Deferred("forward", data, finish_forward, fallback_forward)
