"""DNS wire encoding for the server: case-stable answer templates, truncation, header errors.

Theory of operation
-------------------
The server answers most queries from *templates*: responses encoded once per (lowercased name,
type, class, flags) and re-used for every later query by copying in the query ID and the
question name's bytes (``reference/dns.md`` §4: a patched template costs ~0.1 µs where
dnspython's parse + build + encode costs >100 µs). The trick is to make one encoding valid for
every spelling (case) of the name:

1. The template is rendered from the answer to a *canary* query whose name is the query name in
   upper case. Every name in that answer that was built from the query (owner names, the
   query-cased zone in SOA/NS/SRV names) then ends in upper-case labels, while names that come
   from Kubernetes objects or upstreams are lower case (Kubernetes names are DNS-1123, lower
   case by validation).
2. :func:`render` compresses names **case-sensitively**: a name points at an earlier name only
   if the bytes are identical. So query-derived suffixes point into the question (or at other
   query-derived names), literal names never do.
3. SRV targets must not be compressed (RFC 2782), so their query-derived suffix is recorded as a
   *site* ``(offset, question offset, length)``: bytes to copy from the question.
4. Serving a template = ID from the query, header from the template, question bytes from the
   query, the rest from the template, then the sites (if any). The question name has the same
   length whatever its case, so offsets never move.

Truncation (:func:`render` with ``limit``) follows miekg/dns ``Msg.Truncate`` as CoreDNS uses it
(``request.go`` ``Scrub``): RRs are kept in order while they fit in ``limit`` (512 without
EDNS, else the client's payload size, clamped by the caller), the OPT record is always kept, and
TC is set if any RR was left out.

:func:`header_reply` builds the header-only replies for queries we cannot parse (FORMERR) or
do not implement (NOTIMP), following miekg/dns ``SetRcodeFormatError``.

Nothing here does I/O.
"""

from __future__ import annotations

import struct

import dns.ipv4
import dns.ipv6
import dns.message
import dns.rdata

__all__ = ["Template", "canary_name", "header_reply", "patch", "render", "render_parts"]

Template = tuple[bytes, tuple[tuple[int, int, int], ...]]  # (wire, sites)

_A, _AAAA, _NS, _CNAME, _SOA, _PTR, _MX, _TXT, _SRV = 1, 28, 2, 5, 6, 12, 15, 16, 33
_COMPRESSIBLE_ONE = (_NS, _CNAME, _PTR)  # rdata is one name, compression allowed (RFC 3597 §4)
_H = struct.Struct("!H")
_RRHDR = struct.Struct("!HHIH")
_HEADER = struct.Struct("!HHHHHH")
_SOA_TAIL = struct.Struct("!IIIII")
_SRV_HEAD = struct.Struct("!HHH")


def canary_name(labels: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """The query name's labels in upper case (rule 1)."""
    return tuple(label.upper() for label in labels)


class _Writer:
    __slots__ = ("buf", "comp", "qsuf", "sites")

    def __init__(self) -> None:
        self.buf = bytearray(12)
        self.comp: dict[tuple[bytes, ...], int] = {}
        self.qsuf: dict[tuple[bytes, ...], int] = {}
        self.sites: list[tuple[int, int, int]] = []

    def question(self, labels: tuple[bytes, ...]) -> None:
        buf = self.buf
        for i in range(len(labels)):
            pos = len(buf)
            self.comp[labels[i:]] = pos
            self.qsuf[labels[i:]] = pos
            buf.append(len(labels[i]))
            buf += labels[i]
        buf.append(0)

    def name(self, labels: tuple[bytes, ...]) -> None:
        """Write a compressible name (case-sensitive compression, rule 2)."""
        buf, comp = self.buf, self.comp
        for i in range(len(labels)):
            suffix = labels[i:]
            off = comp.get(suffix)
            if off is not None:
                buf += _H.pack(0xC000 | off)
                return
            pos = len(buf)
            if pos < 0x4000:
                comp[suffix] = pos
            buf.append(len(labels[i]))
            buf += labels[i]
        buf.append(0)

    def plain_name(self, labels: tuple[bytes, ...]) -> None:
        """Write a name that must not be compressed, recording its query-derived suffix (rule 3)."""
        buf = self.buf
        for i in range(len(labels)):
            qoff = self.qsuf.get(labels[i:])
            if qoff is not None:
                length = sum(len(x) + 1 for x in labels[i:])
                self.sites.append((len(buf) + sum(len(x) + 1 for x in labels[:i]), qoff, length))
                break
        for label in labels:
            buf.append(len(label))
            buf += label
        buf.append(0)

    def rr(self, owner: tuple[bytes, ...], rdtype: int, ttl: int, data) -> None:
        """One RR of class IN; ``data`` as in :data:`svcnet.dns.answer.RR`, or a dnspython Rdata."""
        buf = self.buf
        self.name(owner)
        start = len(buf)
        buf += _RRHDR.pack(rdtype, 1, ttl & 0xFFFFFFFF, 0)
        if isinstance(data, dns.rdata.Rdata):
            self._rdata(rdtype, data)
        elif rdtype == _A:
            buf += dns.ipv4.inet_aton(data)
        elif rdtype == _AAAA:
            buf += dns.ipv6.inet_aton(data)
        elif rdtype in _COMPRESSIBLE_ONE:
            self.name(data)
        elif rdtype == _SRV:
            buf += _SRV_HEAD.pack(data[0], data[1], data[2])
            self.plain_name(data[3])
        elif rdtype == _SOA:
            self.name(data[0])
            self.name(data[1])
            buf += _SOA_TAIL.pack(*data[2:])
        elif rdtype == _TXT:
            for chunk in data:
                buf.append(len(chunk))
                buf += chunk
        else:
            raise ValueError(f"cannot encode type {rdtype} from {data!r}")
        _H.pack_into(buf, start + 8, len(buf) - start - 10)

    def _rdata(self, rdtype: int, rd) -> None:
        buf = self.buf
        if rdtype == _A:
            buf += dns.ipv4.inet_aton(rd.address)
        elif rdtype == _AAAA:
            buf += dns.ipv6.inet_aton(rd.address)
        elif rdtype in _COMPRESSIBLE_ONE:
            self.name(rd.target.labels[:-1])
        elif rdtype == _SRV:
            buf += _SRV_HEAD.pack(rd.priority, rd.weight, rd.port)
            self.plain_name(rd.target.labels[:-1])
        elif rdtype == _SOA:
            self.name(rd.mname.labels[:-1])
            self.name(rd.rname.labels[:-1])
            buf += _SOA_TAIL.pack(rd.serial, rd.refresh, rd.retry, rd.expire, rd.minimum)
        elif rdtype == _MX:
            buf += _H.pack(rd.preference)
            self.name(rd.exchange.labels[:-1])
        else:
            buf += rd.to_wire()  # uncompressed, always valid


def render_parts(
    qid: int,
    flags: int,
    question: tuple[tuple[bytes, ...], int, int] | None,
    sections: tuple[list, list, list],
    edns: tuple[int, int] | None,
    limit: int = 65535,
) -> Template:
    """Encode a response from its parts within ``limit`` bytes, truncating with TC.

    ``flags`` is the 16-bit header flags word with the rcode; ``question`` is (labels, type,
    class), written uncompressed at offset 12; ``sections`` are answer/authority/additional RR
    tuples; ``edns`` is ``(payload, OPT ttl field)`` or None for no OPT record.
    """
    w = _Writer()
    counts = [0, 0, 0, 0]
    if question is not None:
        w.question(question[0])
        w.buf += struct.pack("!HH", question[1], question[2])
        counts[0] = 1
    budget = max(limit, 512) - (11 if edns is not None else 0)
    truncated = False
    for sec, rrs in enumerate(sections, 1):
        for owner, rdtype, ttl, data in rrs:
            mark, nsites = len(w.buf), len(w.sites)
            w.rr(owner, rdtype, ttl, data)
            if len(w.buf) > budget:
                del w.buf[mark:]
                del w.sites[nsites:]
                truncated = True
                break
            counts[sec] += 1
        if truncated:
            break
    if edns is not None:
        w.buf += b"\x00" + _RRHDR.pack(41, edns[0], edns[1], 0)
        counts[3] += 1
    _HEADER.pack_into(w.buf, 0, qid, flags | (0x0200 if truncated else 0), *counts)
    return bytes(w.buf), tuple(w.sites)


def render(msg: dns.message.Message, limit: int = 65535) -> Template:
    """Encode a dnspython message within ``limit`` bytes, truncating with TC; ``(wire, sites)``."""
    if any(rrset.rdclass != 1 for section in (msg.answer, msg.authority, msg.additional) for rrset in section):
        # not class IN (a relayed CHAOS answer...): dnspython's own encoder, whole RRsets
        return msg.to_wire(max_size=max(limit, 512), prefer_truncation=True), ()
    sections = tuple(
        [(rrset.name.labels[:-1], rrset.rdtype, rrset.ttl, rd) for rrset in section for rd in rrset]
        for section in (msg.answer, msg.authority, msg.additional)
    )
    question = None
    if msg.question:
        q = msg.question[0]
        question = (q.name.labels[:-1], q.rdtype, q.rdclass)
    edns = None
    if msg.edns >= 0:
        edns = (msg.payload, (msg.ednsflags & 0xFF00FFFF) | ((msg.edns & 0xFF) << 16))
    return render_parts(msg.id, msg.flags, question, sections, edns, limit)


def patch(template: Template, qid: bytes, qname_wire: bytes) -> bytes:
    """A template served to one query: its 2-byte ID and question-name bytes copied in (rule 4)."""
    wire, sites = template
    end = 12 + len(qname_wire)
    if not sites:
        return qid + wire[2:12] + qname_wire + wire[end:]
    out = bytearray(wire)
    out[0:2] = qid
    out[12:end] = qname_wire
    for off, qoff, length in sites:
        out[off : off + length] = out[qoff : qoff + length]
    return bytes(out)


def header_reply(data: bytes, rcode: int) -> bytes | None:
    """A header-only reply to the query in ``data`` (FORMERR, NOTIMP...); None if no header."""
    if len(data) < 12 or data[2] & 0x80:
        return None  # no header to answer, or a response: never answer those
    flags = 0x8000 | ((data[2] & 0x78) << 8) | ((data[2] & 0x01) << 8) | (rcode & 0xF)
    return data[:2] + _HEADER.pack(0, flags, 0, 0, 0, 0)[2:]
