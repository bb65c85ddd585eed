"""The forwarder's pure core (Exchange), its reply cache, and upstream configuration parsing.

The asyncio driver is exercised against a real loopback upstream in test_server.py.
"""

import random

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from svcnet.dns.forward import Exchange, ReplyCache, parse_upstreams, read_resolv_conf

UP1, UP2 = ("127.0.0.1", 5301), ("127.0.0.1", 5302)


def _query(name="example.com.", qtype="A", **kw):
    return dns.message.make_query(name, qtype, **kw)


def _reply_to(request: bytes, *, tc=False, rrs=(), rcode=dns.rcode.NOERROR, name=None):
    q = dns.message.from_wire(request)
    if name is not None:
        q.question[0].name = dns.name.from_text(name)
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    if tc:
        r.flags |= dns.flags.TC
    for rr in rrs:
        r.answer.append(rr)
    return r.to_wire()


def test_exchange_success_restores_client_id():
    q = _query()
    ex = Exchange(q.to_wire(), [UP1, UP2], rng=random.Random(1))
    server, tcp, wire = ex.next_request()
    assert server == UP1 and not tcp and wire[2:] == q.to_wire()[2:]
    final = ex.result(_reply_to(wire, rrs=[dns.rrset.from_text("example.com.", 60, "IN", "A", "192.0.2.1")]))
    assert final is not None and final[:2] == q.to_wire()[:2]
    assert dns.message.from_wire(final).answer[0][0].address == "192.0.2.1"


def test_exchange_tc_over_udp_retries_same_upstream_over_tcp():
    ex = Exchange(_query().to_wire(), [UP1, UP2])
    _, _, wire = ex.next_request()
    assert ex.result(_reply_to(wire, tc=True)) is None
    server, tcp, wire2 = ex.next_request()
    assert server == UP1 and tcp
    final = ex.result(_reply_to(wire2, tc=True))  # TC over TCP: final, passed on
    assert final is not None and final[2] & 0x02


def test_exchange_failover_on_timeout_and_bad_replies():
    ex = Exchange(_query().to_wire(), [UP1, UP2])
    _, _, wire = ex.next_request()
    assert ex.result(None) is None  # timeout
    server, tcp, wire = ex.next_request()
    assert server == UP2 and not tcp
    bad_id = b"\x00\x00" if wire[:2] != b"\x00\x00" else b"\x00\x01"
    assert ex.result(bad_id + _reply_to(wire)[2:]) is None  # wrong ID: not a reply
    assert ex.next_request() is None
    assert ex.attempts == [(UP1, False), (UP2, False)]


def test_exchange_rejects_other_question_and_queries():
    ex = Exchange(_query().to_wire(), [UP1])
    _, _, wire = ex.next_request()
    assert ex.result(_reply_to(wire, name="other.example.")) is None
    ex = Exchange(_query().to_wire(), [UP1])
    _, _, wire = ex.next_request()
    assert ex.result(wire) is None  # our own query echoed back (QR=0)


def test_exchange_accepts_question_in_other_case_and_any_rcode():
    ex = Exchange(_query("Example.COM.").to_wire(), [UP1])
    _, _, wire = ex.next_request()
    final = ex.result(_reply_to(wire, name="example.com.", rcode=dns.rcode.SERVFAIL))
    assert dns.message.from_wire(final).rcode() == dns.rcode.SERVFAIL


def test_exchange_refuses_unforwardable():
    with pytest.raises(ValueError):
        Exchange(b"\x00" * 5, [UP1])


def test_reply_cache_ttl_and_decrement():
    now = [100.0]
    cache = ReplyCache(4, clock=lambda: now[0])
    q = _query().to_wire()
    reply = _reply_to(q, rrs=[dns.rrset.from_text("example.com.", 30, "IN", "A", "192.0.2.1")])
    cache.put(q, reply)
    now[0] += 10
    q2 = _query("EXAMPLE.com.").to_wire()
    hit = dns.message.from_wire(cache.get(q2))
    assert hit.id == dns.message.from_wire(q2).id and hit.answer[0].ttl == 20
    now[0] += 21
    assert cache.get(q) is None and len(cache) == 0


def test_reply_cache_negative_uses_soa_minimum_and_skips_uncacheable():
    now = [0.0]
    cache = ReplyCache(4, clock=lambda: now[0])
    q = _query("nx.example.").to_wire()
    r = dns.message.from_wire(_reply_to(q, rcode=dns.rcode.NXDOMAIN))
    r.authority.append(dns.rrset.from_text("example.", 3600, "IN", "SOA", "ns. host. 1 2 3 4 15"))
    cache.put(q, r.to_wire())
    now[0] = 14
    assert cache.get(q) is not None
    now[0] = 16
    assert cache.get(q) is None
    cache.put(q, _reply_to(q, tc=True, rrs=[dns.rrset.from_text("nx.example.", 30, "IN", "A", "192.0.2.1")]))
    cache.put(q, _reply_to(q, rcode=dns.rcode.SERVFAIL, rrs=[dns.rrset.from_text("nx.example.", 30, "IN", "A", "192.0.2.1")]))
    cache.put(q, _reply_to(q))  # no RRs: no TTL to honour
    assert len(cache) == 0
    # DO bit and EDNS presence are part of the key
    cache.put(q, _reply_to(q, rrs=[dns.rrset.from_text("nx.example.", 30, "IN", "A", "192.0.2.1")]))
    assert cache.get(_query("nx.example.", want_dnssec=True).to_wire()) is None


def test_reply_cache_lru_bound():
    cache = ReplyCache(2)
    for i in range(3):
        q = _query(f"n{i}.example.").to_wire()
        cache.put(q, _reply_to(q, rrs=[dns.rrset.from_text(f"n{i}.example.", 30, "IN", "A", "192.0.2.1")]))
    assert len(cache) == 2 and cache.get(_query("n0.example.").to_wire()) is None


def test_parse_upstreams():
    assert parse_upstreams(["1.2.3.4:5353", "[::1]:53", "10.0.0.1", "::1"]) == [
        ("1.2.3.4", 5353), ("::1", 53), ("10.0.0.1", 53), ("::1", 53)]
    with pytest.raises(ValueError):
        parse_upstreams(["dns.example:53"])


def test_read_resolv_conf(tmp_path):
    p = tmp_path / "resolv.conf"
    p.write_text("# comment\nsearch a.example\nnameserver 127.0.0.53\nnameserver bogus\nnameserver ::1\noptions ndots:5\n")
    assert read_resolv_conf(str(p)) == [("127.0.0.53", 53), ("::1", 53)]
    assert read_resolv_conf(str(tmp_path / "missing")) == []
