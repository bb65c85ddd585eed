"""Responder + wire: the cached, patched wire answers equal the pure answers, in every spelling.

One table, both directions (style-examples rule 11): every handler vector is encoded by the
responder and decoded twice -- by dnspython and by dnslib, an independent decoder -- and must
equal what the pure answer() says for that exact query, on a miss, on a hit, in another case,
with and without EDNS, through the fast path and the slow path.
"""

import random

import dnslib
import dns.flags
import dns.message
import dns.rcode
import pytest

from dnstest_case import ask, rr_lines, upstream_reply
from dnstest_fixtures import coredns_handler_objects, load
from svcnet.dns.responder import MAX_UDP_PAYLOAD, Deferred, Responder
from svcnet.dns.wire import canary_name, header_reply, patch, render
from test_answer import HANDLER_CASES, HANDLER_CONFIG, upstub


def respell(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)


@pytest.fixture(scope="module")
def setup():
    index = load(coredns_handler_objects())
    return index, Responder(HANDLER_CONFIG, index)


def _expected(index, q, tcp):
    from dnstest_case import Case
    case = Case(q.question[0].name.to_text(), dns.rdatatype.to_text(q.question[0].rdtype))
    want = ask(index, HANDLER_CONFIG, case, upstub, edns=q.edns >= 0)
    want.id = q.id
    limit = 65535 if tcp else (512 if q.edns < 0 else min(max(q.payload, 512), MAX_UDP_PAYLOAD))
    return dns.message.from_wire(render(want)[0]), limit


def _same(out: bytes, want: dns.message.Message, limit: int) -> None:
    """Decoded equality (compression choices may differ between spellings, both valid); a
    truncated reply must fit the limit, set TC and hold a subset of the full answer's RRs."""
    got = dns.message.from_wire(out)
    assert len(out) <= limit
    if not got.flags & dns.flags.TC or want.flags & dns.flags.TC:
        assert got.to_text() == want.to_text()
        return
    full = set(rr_lines(want.answer) + rr_lines(want.authority) + rr_lines(want.additional))
    assert set(rr_lines(got.answer) + rr_lines(got.authority) + rr_lines(got.additional)) <= full
    assert got.flags & ~dns.flags.TC == want.flags and got.rcode() == want.rcode()


@pytest.mark.parametrize("case", HANDLER_CASES)
def test_responder_equals_pure_answer(setup, case):
    index, responder = setup
    rng = random.Random(case.qname + case.qtype)
    for spelling in (case.qname, respell(case.qname, rng), case.qname.upper()):
        for edns in (None, 0):
            for tcp in (False, True):
                q = dns.message.make_query(spelling, case.qtype, use_edns=edns)
                for _ in range(2):  # miss, then hit
                    out = responder.handle(q.to_wire(), tcp)
                    if isinstance(out, Deferred):
                        assert case.qname.startswith("external.") and case.qtype == "A"
                        reply = upstub(dns.name.from_text("ext.interwebs.test."), 1).to_wire()
                        out = out.finish(reply)
                    _same(out, *_expected(index, q, tcp))
                    got = dns.message.from_wire(out)
                    assert got.id == q.id and got.question == q.question
                    # dnslib decodes the same records (an independent decoder)
                    lib = dnslib.DNSRecord.parse(out)
                    assert len(lib.rr) == sum(len(r) for r in got.answer)
                    assert len(lib.auth) == sum(len(r) for r in got.authority)
                    assert str(lib.q.qname) == spelling if spelling.endswith(".") else spelling + "."


def test_responder_fast_and_slow_paths_agree(setup):
    index, responder = setup
    for param in HANDLER_CASES:
        case = param.values[0]
        if case.qname.startswith("external.") and case.qtype == "A":
            continue
        for edns in (None, 0):
            q = dns.message.make_query(respell(case.qname, random.Random(1)), case.qtype, use_edns=edns)
            fast = responder.handle(q.to_wire(), False)
            slow = responder._slow(q.to_wire(), False)
            assert fast == slow


def test_responder_cache_flushed_on_generation(setup):
    index, _ = setup
    responder = Responder(HANDLER_CONFIG, load(coredns_handler_objects()))
    q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A").to_wire()
    responder.handle(q)
    responder.handle(q)
    assert (responder.hits, responder.misses) == (1, 1)
    responder.index.mark_synced()  # already synced: no change
    responder.handle(q)
    assert responder.hits == 2
    responder.index.apply("Namespace", "ADDED", {"metadata": {"name": "new"}})
    responder.handle(q)
    assert responder.misses == 2


def test_responder_cache_bounded():
    responder = Responder(HANDLER_CONFIG, load(coredns_handler_objects()), cache_size=10)
    for i in range(25):
        responder.handle(dns.message.make_query(f"n{i}.testns.svc.cluster.local.", "A").to_wire())
        assert len(responder._cache) <= 10


def test_responder_deferred_forward_and_fallback(setup):
    _, responder = setup
    q = dns.message.make_query("example.com.", "A")
    d = responder.handle(q.to_wire())
    assert isinstance(d, Deferred) and d.kind == "forward" and d.request == q.to_wire()
    reply = upstream_reply("example.com.", "A", ("example.com. 30 IN A 192.0.2.5",))
    reply.id = 999
    out = dns.message.from_wire(d.finish(reply.to_wire()))
    assert out.id == q.id and out.answer[0][0].address == "192.0.2.5"
    assert dns.message.from_wire(d.finish(None)).rcode() == dns.rcode.SERVFAIL
    assert dns.message.from_wire(d.fallback()).rcode() == dns.rcode.REFUSED


def test_wire_patch_sites_for_srv_targets():
    index = load(coredns_handler_objects())
    q = dns.message.make_query("_http._tcp.svc1.testns.svc.cluster.local.", "SRV")
    canary = dns.message.make_query(dns.name.Name(canary_name(q.question[0].name.labels)), "SRV")
    from svcnet.dns.answer import answer
    template = render(answer(index, HANDLER_CONFIG, canary))
    assert template[1], "the SRV target's zone is a patch site"
    for spelling in ("_http._tcp.svc1.testns.svc.CLUSTER.local.", "_http._tcp.svc1.testns.svc.cluster.local."):
        qn = dns.name.from_text(spelling)
        out = dns.message.from_wire(patch(template, b"\x00\x07", qn.to_wire()))
        zone = spelling.split(".", 5)[5]
        assert out.answer[0][0].target.to_text() == f"svc1.testns.svc.{zone}"


def test_wire_header_reply():
    assert header_reply(b"\x01\x02\x01\x00" + b"\x00" * 8, dns.rcode.FORMERR) == b"\x01\x02\x81\x01" + b"\x00" * 8
    assert header_reply(b"\x01\x02\x81\x00" + b"\x00" * 8, 1) is None
    assert header_reply(b"\x01", 1) is None
