"""Authoritative answers for the cluster zones: a pure function of (index, config, question).

Theory of operation
-------------------
:func:`answer` is CoreDNS's ``plugin/kubernetes/handler.go`` ``ServeDNS`` plus the record
building of ``plugin/backend_lookup.go``, over :mod:`svcnet.dns.records`. It returns one of:

- a :class:`dns.message.Message`: the complete response (flags, sections; the wire encoding,
  truncation and caching are :mod:`svcnet.dns.wire`'s and :mod:`svcnet.dns.responder`'s business);
- :class:`NeedUpstream`: an ExternalName points outside our zones, so the answer needs an upstream
  lookup of ``qname``/``qtype``. The caller does the I/O and calls ``result(reply)``, which returns
  the final response (the ``dns.resolver._Resolution`` shape: the core never does I/O);
- :class:`Forward`: the name is not ours (or is a reverse-zone name error with fallthrough): relay
  the query upstream; ``fallback`` is the answer to give when there is no upstream at all.

:func:`resolve` is the same decision on a bare question, returning a light :class:`Reply` (names
as label tuples, record data as plain values) that the responder renders to wire without making
dnspython objects -- the cache-miss path of the server. :func:`answer` is :func:`resolve` plus a
conversion to dnspython (:func:`to_message`).

Rules (``reference/dns.md`` §1-§2; the CoreDNS source named in brackets):

1. The longest served zone that is a suffix of the name is the zone; the zone's labels *as the
   query wrote them* are used for every name we build from the zone (SOA owner, ``ns.dns.``,
   ``hostmaster.``, SRV targets: ``handler_case_test.go``); owner names are the query name
   itself. No zone -> :class:`Forward` (or REFUSED when ``upstreams=()``, §6.1).
2. Class other than IN, AXFR and IXFR -> REFUSED (not authoritative, as CoreDNS's ``errorFunc``).
3. Per type [handler.go]: A/AAAA (with ExternalName chase), TXT (``dns-version`` only), CNAME,
   PTR, SRV, SOA and NS at the apex; every other type -- and SOA/NS/MX/TXT elsewhere -- only decides
   between NODATA and NXDOMAIN with an existence check (CoreDNS's "fake A lookup").
4. Name error -> fallthrough (reverse zones, if configured) -> SERVFAIL if the index has not
   synced -> NXDOMAIN; the SOA goes in the authority section. No records -> NODATA (NOERROR +
   SOA). Otherwise NOERROR with the records. Always AA=1 and RA=0; RD and CD are copied.
5. SOA: ``<zone> min(ttl,300) IN SOA ns.dns.<zone> hostmaster.<zone> <serial> 7200 1800 86400
   <ttl>`` [backend_lookup.go ``SOA``], serial = the index's last change.
6. SRV: priority 0, weight ``max(1, floor(100 / N))`` with N counted before deduplication, SRV
   RRs deduplicated by (target, port), additional A/AAAA by (target, address) [``SRV``].
7. ExternalName chase [``A``/``AAAA``]: ``x CNAME x`` is dropped; chains stop after
   :data:`MAX_CNAME_CHAIN` hops and repeated CNAMEs are dropped; an in-zone target is answered
   here and its CNAME is kept only if the target produced records; an outside target needs an
   upstream lookup whose answer RRs are appended with their own TTLs, TC propagated, rcode not
   propagated; a failed lookup leaves nothing (NODATA). Only A and AAAA chase; CNAME queries get
   the CNAME alone, SRV at an ExternalName is NODATA.

Deliberate differences from CoreDNS (all where CoreDNS gives NXDOMAIN to a name that exists,
which a resolver implementing RFC 8020 would cache as "nothing below exists either"): TXT at the
apex / ``svc`` / ``pod`` / ``<ns>.svc`` and non-TXT types at ``dns-version`` are NODATA; SOA at
a non-apex name uses the existence check (NXDOMAIN if the name does not exist, NODATA if it
does; CoreDNS says NODATA to any non-apex SOA query).

Nothing here does I/O; no socket, no asyncio.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rdtypes.IN.SRV

from svcnet.dns import records as rec
from svcnet.dns.config import DNSConfig
from svcnet.dns.index import ClusterIndex
from svcnet.dns.names import DNSNameError, match_zone, reverse_to_ip

__all__ = [
    "DNS_SCHEMA_VERSION",
    "EDNS_PAYLOAD",
    "Forward",
    "MAX_CNAME_CHAIN",
    "NeedUpstream",
    "Reply",
    "answer",
    "error_response",
    "resolve",
    "to_message",
]

DNS_SCHEMA_VERSION = "1.1.0"  # kubernetes/dns docs/specification.md
_VERSION_TTL = 28800  # CoreDNS hard-codes this TTL for dns-version TXT
MAX_CNAME_CHAIN = 10  # CoreDNS maxCnameChainLength
#: The UDP payload size we advertise in our OPT record (DNS flag day 2020 value).
EDNS_PAYLOAD = 1232

_IN = dns.rdataclass.IN
_A, _NS, _CNAME, _SOA, _PTR, _MX, _TXT, _AAAA, _SRV = 1, 2, 5, 6, 12, 15, 16, 28, 33
_AXFR, _IXFR = 252, 251
_QR, _AA, _RD, _CD, _TC = dns.flags.QR, dns.flags.AA, dns.flags.RD, dns.flags.CD, dns.flags.TC
_DO = dns.flags.DO
_NOERROR, _NXDOMAIN, _SERVFAIL, _REFUSED, _FORMERR = 0, 3, 2, 5, 1

Labels = tuple[bytes, ...]  # a name's labels without the root, as the wire spells them
# An RR of a Reply: (owner labels, rdtype, ttl, data). data by type: A/AAAA: address text;
# CNAME/PTR/NS: target labels; SRV: (priority, weight, port, target labels); SOA: (mname labels,
# rname labels, serial, refresh, retry, expire, minimum); TXT: (bytes, ...); any other type:
# a dnspython Rdata (records relayed from an upstream).
RR = tuple[Labels, int, int, object]


@dataclass(slots=True)
class Reply:
    """A response before encoding: rcode, flags we decide, and the three sections."""

    rcode: int = _NOERROR
    aa: bool = True
    tc: bool = False
    answer: list = field(default_factory=list)
    authority: list = field(default_factory=list)
    additional: list = field(default_factory=list)


@dataclass(frozen=True, slots=True, kw_only=True)
class Forward:
    """Relay ``query`` to an upstream; answer ``fallback`` if there is none."""

    query: dns.message.Message
    fallback: dns.message.Message


@dataclass(slots=True)
class _Chase:
    target: Labels
    chain: tuple  # CNAME RRs so far
    nodata: Reply


@dataclass(slots=True)
class _Forward:
    fallback: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedUpstream:
    """An ExternalName chase needs ``qname``/``qtype`` from upstream; then call :meth:`result`."""

    qname: dns.name.Name
    qtype: int
    query: dns.message.Message
    chain: tuple  # the CNAME RRs so far (Reply RR tuples)
    nodata: dns.message.Message  # the answer if the lookup fails

    def request(self) -> dns.message.Message:
        """The query to send upstream (recursion desired, EDNS with our payload size)."""
        q = dns.message.make_query(self.qname, self.qtype, use_edns=0, payload=EDNS_PAYLOAD)
        q.flags |= _RD
        return q

    def result(self, reply: dns.message.Message | None) -> dns.message.Message:
        """The final answer given the upstream reply (None: the lookup failed)."""
        if reply is None:
            return self.nodata
        out = Reply(tc=bool(reply.flags & _TC), answer=list(self.chain))
        for rrset in reply.answer:
            for rd in rrset:
                out.answer.append((rrset.name.labels[:-1], rrset.rdtype, rrset.ttl, rd))
        return to_message(out, self.query)


# -- conversion to dnspython -----------------------------------------------------------------------


def _name(labels: Labels) -> dns.name.Name:
    return dns.name.Name(labels + (b"",))


def _rdata(rdtype: int, data) -> dns.rdata.Rdata:
    if isinstance(data, dns.rdata.Rdata):
        return data
    if rdtype == _A:
        return dns.rdtypes.IN.A.A(_IN, _A, data)
    if rdtype == _AAAA:
        return dns.rdtypes.IN.AAAA.AAAA(_IN, _AAAA, data)
    if rdtype == _CNAME:
        return dns.rdtypes.ANY.CNAME.CNAME(_IN, _CNAME, _name(data))
    if rdtype == _PTR:
        return dns.rdtypes.ANY.PTR.PTR(_IN, _PTR, _name(data))
    if rdtype == _NS:
        return dns.rdtypes.ANY.NS.NS(_IN, _NS, _name(data))
    if rdtype == _SRV:
        return dns.rdtypes.IN.SRV.SRV(_IN, _SRV, data[0], data[1], data[2], _name(data[3]))
    if rdtype == _SOA:
        return dns.rdtypes.ANY.SOA.SOA(_IN, _SOA, _name(data[0]), _name(data[1]), *data[2:])
    if rdtype == _TXT:
        return dns.rdtypes.ANY.TXT.TXT(_IN, _TXT, data)
    raise ValueError(f"no rdata for type {rdtype}")


def _response(query: dns.message.Message, rcode: int, *, aa: bool = True) -> dns.message.Message:
    resp = dns.message.Message(id=query.id)
    resp.flags = _QR | (query.flags & (_RD | _CD)) | (_AA if aa else 0)
    resp.question = list(query.question)
    if query.edns >= 0:
        resp.use_edns(0, query.ednsflags & _DO, EDNS_PAYLOAD)
    resp.set_rcode(rcode)  # after use_edns: an extended rcode (BADVERS) lives in the OPT TTL
    return resp


def error_response(query: dns.message.Message, rcode: int) -> dns.message.Message:
    """A non-authoritative error reply (REFUSED, FORMERR, NOTIMP...) with the question copied."""
    return _response(query, rcode, aa=False)


def to_message(reply: Reply, query: dns.message.Message) -> dns.message.Message:
    """``reply`` as the dnspython response to ``query`` (ID, question, RD/CD, EDNS from the query)."""
    resp = _response(query, reply.rcode, aa=reply.aa)
    if reply.tc:
        resp.flags |= _TC
    for section, rrs in ((resp.answer, reply.answer), (resp.authority, reply.authority), (resp.additional, reply.additional)):
        for owner, rdtype, ttl, data in rrs:
            rrset = resp.find_rrset(section, _name(owner), _IN, rdtype, create=True)
            rrset.add(_rdata(rdtype, data), ttl)
    return resp


# -- the decision ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Ctx:
    index: ClusterIndex
    config: DNSConfig
    zone: Labels  # the matched zone, in the query's spelling
    zone_len: int
    reverse: bool
    ttl: int
    pending: list = field(default_factory=list)


def _lower(labels: Labels) -> tuple[str, ...]:
    return tuple(label.lower().decode("latin-1") for label in labels)


def _enc(labels: tuple[str, ...]) -> Labels:
    return tuple(x.encode("latin-1") for x in labels)


_zone_cache: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {}


def _zone_tuples(config: DNSConfig) -> tuple[tuple[str, ...], ...]:
    zones = _zone_cache.get(config.zones)
    if zones is None:
        zones = tuple(tuple(z.split(".")) if z else () for z in config.zones)
        _zone_cache[config.zones] = zones
    return zones


def _soa(ctx: _Ctx) -> RR:
    ttl = ctx.config.ttl
    data = ((b"ns", b"dns") + ctx.zone, (b"hostmaster",) + ctx.zone, ctx.index.serial & 0xFFFFFFFF, 7200, 1800, 86400, ttl)
    return (ctx.zone, _SOA, min(ttl, 300), data)


def _negative(ctx: _Ctx, rcode: int) -> Reply:
    return Reply(rcode=rcode, authority=[_soa(ctx)])


def _items(ctx: _Ctx, labels: tuple[str, ...], qtype: int) -> list[rec.Item]:
    """CoreDNS ``Services``/``checkForApex`` for lowercased ``labels`` (zone included).

    :raises DNSNameError: the name does not exist.
    """
    base = labels[: len(labels) - ctx.zone_len]
    if not base or base == ("dns-version",):
        return []  # the apex, or dns-version (TXT only): exists, no address records
    if base == ("ns", "dns"):  # isDefaultNS: the fallback NS name answers with our addresses
        kind = rec.A if qtype == _A else rec.AAAA if qtype == _AAAA else 0
        return [
            rec.Item(ip, kind, -1, base)
            for _, ip in rec.ns_addresses(ctx.index, ctx.config)
            if kind and (":" in ip) == (kind == rec.AAAA)
        ]
    return rec.records(ctx.index, ctx.config, base, ctx.reverse)


def _target(host: str) -> Labels | None:
    """An ExternalName value as labels (None if it is not a valid name)."""
    try:
        return dns.name.from_text(host).labels[:-1]
    except dns.exception.DNSException:
        return None


def _address(ctx: _Ctx, owner: Labels, qtype: int, chain: tuple) -> list[RR]:
    """A/AAAA records at ``owner`` (CoreDNS ``A``/``AAAA``), chasing ExternalNames.

    An outside CNAME target is recorded in ``ctx.pending`` as ``(target, chain)``: the answer
    waits for an upstream lookup.
    """
    want = rec.A if qtype == _A else rec.AAAA
    out: list[RR] = []
    seen: set[str] = set()
    owner_lower = _lower(owner)
    for item in _items(ctx, owner_lower, qtype):
        if item.kind == rec.CNAME:
            target = _target(item.host)
            if target is None or _lower(target) == owner_lower or len(chain) >= MAX_CNAME_CHAIN:
                continue  # x CNAME x is a direct loop; long chains stop
            link = (owner, _CNAME, ctx.ttl, target)
            if any(_lower(o) == owner_lower and _lower(t) == _lower(target) for o, _, _, t in chain):
                continue  # a loop further up the chain
            t_lower = _lower(target)
            if len(t_lower) >= ctx.zone_len and t_lower[len(t_lower) - ctx.zone_len :] == _lower(ctx.zone):
                try:
                    nxt = _address(ctx, target, qtype, (*chain, link))
                except DNSNameError:
                    continue
                if nxt:
                    out.append(link)
                    out.extend(nxt)
                continue
            ctx.pending.append((target, (*chain, link)))
            continue
        if item.kind == want and item.host not in seen:
            seen.add(item.host)
            out.append((owner, qtype, ctx.ttl, item.host))
    return out


def _srv(ctx: _Ctx, qlabels: Labels, labels: tuple[str, ...], reply: Reply) -> None:
    items = [i for i in _items(ctx, labels, _SRV) if i.kind != rec.CNAME]
    if not items:
        return
    weight = max(1, 100 // len(items))
    seen_srv: set[tuple[Labels, int]] = set()
    seen_extra: set[tuple[Labels, str]] = set()
    for item in items:
        if item.port == -1:
            continue
        target = _enc(item.path) + ctx.zone
        if (target, item.port) not in seen_srv:
            seen_srv.add((target, item.port))
            reply.answer.append((qlabels, _SRV, ctx.ttl, (0, weight, item.port, target)))
        if (target, item.host) not in seen_extra:
            seen_extra.add((target, item.host))
            reply.additional.append((target, _A if item.kind == rec.A else _AAAA, ctx.ttl, item.host))


def _ptr(ctx: _Ctx, qlabels: Labels, labels: tuple[str, ...], reply: Reply) -> None:
    ip = reverse_to_ip(labels) if ctx.reverse else None
    if ip is None:
        _items(ctx, labels, _PTR)  # existence only: PTR at a forward name is NODATA
        return
    primary = _enc(tuple(ctx.config.zone.split(".")))
    for path in rec.reverse(ctx.index, ctx.config, ip):
        reply.answer.append((qlabels, _PTR, ctx.ttl, _enc(path) + primary))


def _ns(ctx: _Ctx, qlabels: Labels, reply: Reply) -> None:
    done: set[Labels] = set()
    for path, ip in rec.ns_addresses(ctx.index, ctx.config):
        target = _enc(path or ("ns", "dns")) + ctx.zone
        if target not in done:
            done.add(target)
            reply.answer.append((qlabels, _NS, ctx.ttl, target))
        reply.additional.append((target, _AAAA if ":" in ip else _A, ctx.ttl, ip))


def _lookup(ctx: _Ctx, qlabels: Labels, qtype: int, reply: Reply) -> None:
    """Fill ``reply`` for qtype. Raises DNSNameError."""
    labels = _lower(qlabels)
    apex = len(labels) == ctx.zone_len
    if qtype == _A or qtype == _AAAA:
        reply.answer.extend(_address(ctx, qlabels, qtype, ()))
    elif qtype == _SRV:
        _srv(ctx, qlabels, labels, reply)
    elif qtype == _PTR:
        _ptr(ctx, qlabels, labels, reply)
    elif qtype == _TXT and labels[: len(labels) - ctx.zone_len] == ("dns-version",):
        reply.answer.append((qlabels, _TXT, _VERSION_TTL, (DNS_SCHEMA_VERSION.encode(),)))
    elif qtype == _CNAME:
        items = _items(ctx, labels, qtype)
        if items and items[0].kind == rec.CNAME:
            target = _target(items[0].host)
            if target is not None:
                reply.answer.append((qlabels, _CNAME, ctx.ttl, target))
    elif apex and qtype == _SOA:
        reply.answer.append(_soa(ctx))
    elif apex and qtype == _NS:
        _ns(ctx, qlabels, reply)
    else:
        _items(ctx, labels, _A)  # the fake A lookup: raises unless the name exists


def resolve(index: ClusterIndex, config: DNSConfig, qlabels: Labels, qtype: int, qclass: int = _IN):
    """The decision for one question: a :class:`Reply`, or an internal forward/chase marker.

    ``qlabels`` are the query name's labels as spelled on the wire, without the root label.
    """
    if qclass != _IN:
        return Reply(rcode=_REFUSED, aa=False)
    labels = _lower(qlabels)
    zones = _zone_tuples(config)
    zi = match_zone(labels, zones)
    if zi < 0:
        refused = Reply(rcode=_REFUSED, aa=False)
        return refused if config.upstreams == () else _Forward(refused)
    if qtype == _AXFR or qtype == _IXFR:
        return Reply(rcode=_REFUSED, aa=False)
    n = len(zones[zi])
    ctx = _Ctx(index, config, qlabels[len(qlabels) - n :], n, bool(n) and zones[zi][-1] == "arpa", config.ttl)
    reply = Reply()
    try:
        _lookup(ctx, qlabels, qtype, reply)
    except DNSNameError:
        nxdomain = _negative(ctx, _NXDOMAIN)
        if ctx.reverse and config.fallthrough_reverse:
            return nxdomain if config.upstreams == () else _Forward(nxdomain)
        if not index.synced:
            return _negative(ctx, _SERVFAIL)
        return nxdomain
    if ctx.pending:
        target, chain = ctx.pending[0]
        return _Chase(target, chain, _negative(ctx, _NOERROR))
    if not reply.answer:
        return _negative(ctx, _NOERROR)
    return reply


def answer(index: ClusterIndex, config: DNSConfig, query: dns.message.Message) -> dns.message.Message | NeedUpstream | Forward:
    """Answer ``query`` from ``index`` under ``config`` (FORMERR unless it has one question)."""
    if len(query.question) != 1:
        return error_response(query, _FORMERR)
    q = query.question[0]
    result = resolve(index, config, q.name.labels[:-1], q.rdtype, q.rdclass)
    if isinstance(result, Reply):
        return to_message(result, query)
    if isinstance(result, _Forward):
        return Forward(query=query, fallback=to_message(result.fallback, query))
    return NeedUpstream(
        qname=_name(result.target), qtype=q.rdtype, query=query, chain=result.chain,
        nodata=to_message(result.nodata, query),
    )
