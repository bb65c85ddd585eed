"""The real server on loopback: pod-record vectors (dns.md §3.2 #37, #38, ``pods verified``) and
vector 32 (SERVFAIL before the first sync), each asked over UDP and over TCP with dnspython.

The answer()-level tests (test_answer_pods_*.py) check the same tables against the pure core;
here every case goes through DNSServer (bound to 127.0.0.1, port 0: see dnstest_server), its
pre-encoded answer cache and both transports. :func:`dnstest_case.check` asserts the rcode, AA=1,
RA=0, TC, every section (TTL and owner case included) and the SOA in authority (owner, TTL, mname,
rname, refresh/retry/expire/minimum); :func:`check_serial` adds the SOA serial, which dns.md §1.9
defines as the index's last-change time.
"""

from __future__ import annotations

import dataclasses

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

import test_answer_pods_disabled as disabled
import test_answer_pods_insecure as insecure
import test_answer_pods_verified as verified
from dnstest_case import SOA5, Case, check
from dnstest_fixtures import coredns_handler_objects, load, pod
from dnstest_server import ServerThread
from test_answer import HANDLER_CONFIG

TIMEOUT = 3
LOOPBACK = "127.0.0.1"


def udp(srv: ServerThread, case: Case) -> dns.message.Message:
    q = dns.message.make_query(case.qname, case.qtype)
    r = dns.query.udp(q, LOOPBACK, port=srv.port, timeout=TIMEOUT, ignore_unexpected=False)
    assert r.id == q.id and r.question == q.question
    return r


def tcp(srv: ServerThread, case: Case) -> dns.message.Message:
    q = dns.message.make_query(case.qname, case.qtype)
    r = dns.query.tcp(q, LOOPBACK, port=srv.port, timeout=TIMEOUT)
    assert r.id == q.id and r.question == q.question
    return r


TRANSPORTS = [pytest.param(udp, id="udp"), pytest.param(tcp, id="tcp")]


def check_serial(resp: dns.message.Message, srv: ServerThread) -> None:
    """Every SOA in the reply carries the index's serial (dns.md §1.9)."""
    serial = srv.call(lambda: srv.index.serial)
    for rrset in resp.authority:
        if rrset.rdtype == dns.rdatatype.SOA:
            assert [rd.serial for rd in rrset] == [serial]


def ask_and_check(srv: ServerThread, transport, case: Case) -> dns.message.Message:
    resp = transport(srv, case)
    check(resp, case)
    check_serial(resp, srv)
    return resp


# -- servers, one per pods mode, with the objects of the answer()-level tests ------------------


@pytest.fixture(scope="module")
def insecure_server():
    assert insecure.CONFIG.pods == "insecure"
    with ServerThread(insecure.CONFIG, load(insecure.OBJECTS)) as srv:
        yield srv


@pytest.fixture(scope="module")
def disabled_server():
    assert disabled.CONFIG.pods == "disabled"
    with ServerThread(disabled.CONFIG, load(disabled.OBJECTS)) as srv:
        yield srv


@pytest.fixture(scope="module")
def verified_server():
    assert verified.CONFIG.pods == "verified"
    with ServerThread(verified.CONFIG, load(verified.OBJECTS, track_pods=True)) as srv:
        yield srv


# -- vector 37: pods insecure ------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", insecure.CASES)
def test_server_pods_insecure(insecure_server, transport, case):
    ask_and_check(insecure_server, transport, case)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_pods_insecure_vector_37_exact(insecure_server, transport):
    """dns.md §3.2 #37 spelled out, independent of the shared table."""
    r = transport(insecure_server, Case("10-240-0-1.podns.pod.cluster.local.", "A"))
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA and not r.flags & dns.flags.RA
    assert len(r.answer) == 1 and r.authority == [] and r.additional == []
    rrset = r.answer[0]
    assert rrset.name.to_text() == "10-240-0-1.podns.pod.cluster.local."
    assert rrset.rdtype == dns.rdatatype.A and rrset.ttl == 5
    assert [rd.address for rd in rrset] == ["10.240.0.1"]
    for qname, qtype, rcode in (
        ("blah.podns.pod.cluster.local.", "A", dns.rcode.NXDOMAIN),
        ("blah.podns.pod.cluster.local.", "AAAA", dns.rcode.NXDOMAIN),
        ("blah.podns.pod.cluster.local.", "HINFO", dns.rcode.NXDOMAIN),
        ("podns.pod.cluster.local.", "A", dns.rcode.NOERROR),  # NODATA
    ):
        r = transport(insecure_server, Case(qname, qtype))
        assert r.rcode() == rcode and r.flags & dns.flags.AA and r.answer == []
        assert len(r.authority) == 1
        soa = r.authority[0]
        assert soa.name.to_text() == "cluster.local." and soa.ttl == 5 and soa.rdtype == dns.rdatatype.SOA
        rd = soa[0]
        assert (rd.mname.to_text(), rd.rname.to_text(), rd.refresh, rd.retry, rd.expire, rd.minimum) == (
            "ns.dns.cluster.local.", "hostmaster.cluster.local.", 7200, 1800, 86400, 5)


# -- vector 38: pods disabled ------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", disabled.CASES)
def test_server_pods_disabled(disabled_server, transport, case):
    ask_and_check(disabled_server, transport, case)


# -- pods verified -----------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", verified.CASES)
def test_server_pods_verified(verified_server, transport, case):
    ask_and_check(verified_server, transport, case)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_pods_verified_follows_pod_events(transport):
    """Pod events reach the running server: the cached NXDOMAIN gives way to the A, then back."""
    index = load(verified.OBJECTS, track_pods=True)
    with ServerThread(verified.CONFIG, index) as srv:
        qname = "10-240-0-7.podns.pod.cluster.local."
        nx = Case(qname, "A", "NXDOMAIN", ns=(SOA5,))
        ask_and_check(srv, transport, nx)
        ask_and_check(srv, transport, nx)  # now from the answer cache
        srv.call(index.apply, "Pod", "ADDED", pod("bar", "podns", "10.240.0.7"))
        ask_and_check(srv, transport, Case(qname, "A", answer=(f"{qname} 5 IN A 10.240.0.7",)))
        srv.call(index.apply, "Pod", "DELETED", pod("bar", "podns", "10.240.0.7"))
        ask_and_check(srv, transport, nx)


# -- vector 32: not synced ---------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_server_not_synced_servfail_then_nxdomain(transport):
    index = load(coredns_handler_objects(), synced=False)
    config = dataclasses.replace(HANDLER_CONFIG, upstreams=())
    with ServerThread(config, index) as srv:
        case = Case("svc0.testns.svc.cluster.local.", "A", "SERVFAIL", ns=(SOA5,))
        ask_and_check(srv, transport, case)
        ask_and_check(srv, transport, case)  # cached
        # names already in the cache are answered while unsynced (dns.md §2.7)
        ask_and_check(srv, transport, Case("svc1.testns.svc.cluster.local.", "A",
                                           answer=("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1",)))
        srv.call(index.mark_synced)
        ask_and_check(srv, transport, dataclasses.replace(case, rcode="NXDOMAIN"))
