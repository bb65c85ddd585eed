"""The real server on loopback: the upstream vectors over UDP and TCP, dig, truncation, upstreams.

Every test talks to a DNSServer bound to 127.0.0.1 with a free port (dnstest_server.ServerThread),
with dnspython's blocking clients or the real ``dig``; upstreams are nanonameserver instances on
127.0.0.1. Nothing leaves loopback.
"""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from dnstest_case import SOA5, Case, check, rr_lines
from dnstest_fixtures import (
    ci_objects,
    coredns_handler_objects,
    coredns_reverse_objects,
    endpoint,
    endpoint_slice,
    load,
    service,
)
from dnstest_server import ServerThread
from nanonameserver import Server as FakeUpstream
from svcnet.dns.index import ClusterIndex
from test_answer import CI_CASES, CI_CONFIG, HANDLER_CASES, HANDLER_CONFIG, REVERSE_CASES, REVERSE_CONFIG

TIMEOUT = 3


def upstream_handler(req: dns.message.Message, tcp: bool):
    """The fake upstream resolver the vectors expect."""
    q = req.question[0]
    name = q.name.to_text().lower()
    resp = dns.message.make_response(req)
    resp.flags |= dns.flags.RA
    if name == "ext.interwebs.test." and q.rdtype == dns.rdatatype.A:
        # handler_test.go Upstub: always truncated, with the A record
        resp.flags |= dns.flags.TC
        resp.answer.append(dns.rrset.from_text("ext.interwebs.test.", 5, "IN", "A", "1.2.3.4"))
    elif name == "example.net." and q.rdtype == dns.rdatatype.A:
        resp.answer.append(dns.rrset.from_text("example.net.", 300, "IN", "A", "13.14.15.16"))
    elif name == "outside.example." and q.rdtype == dns.rdatatype.A:
        resp.answer.append(dns.rrset.from_text("outside.example.", 120, "IN", "A", "192.0.2.7"))
    elif name == "big.example." and q.rdtype == dns.rdatatype.TXT:
        if not tcp:
            resp.flags |= dns.flags.TC
        else:
            resp.answer.append(dns.rrset.from_text("big.example.", 60, "IN", "TXT", *[f'"{"x" * 200}{i}"' for i in range(4)]))
    elif name == "slow.example.":
        return None
    else:
        resp.set_rcode(dns.rcode.NXDOMAIN)
    return resp


@pytest.fixture(scope="module")
def upstream():
    with FakeUpstream(upstream_handler) as up:
        yield up


@pytest.fixture(scope="module")
def handler_server(upstream):
    config = dataclasses.replace(HANDLER_CONFIG, upstreams=(upstream.upstream,), upstream_timeout=1.0)
    with ServerThread(config, load(coredns_handler_objects())) as srv:
        yield srv


def udp(srv, qname, qtype="A", *, edns=None, payload=1232, raw=None, **kw):
    if edns is not None:
        kw["payload"] = payload
    q = raw or dns.message.make_query(qname, qtype, use_edns=edns, **kw)
    assert (q.edns >= 0) == (edns is not None)
    return dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=TIMEOUT, ignore_unexpected=False)


def tcp(srv, qname, qtype="A", **kw):
    q = dns.message.make_query(qname, qtype, **kw)
    return dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=TIMEOUT)


@pytest.mark.parametrize("case", HANDLER_CASES)
def test_server_handler_vectors_udp(handler_server, case):
    check(udp(handler_server, case.qname, case.qtype, edns=0), case)


@pytest.mark.parametrize("case", HANDLER_CASES)
def test_server_handler_vectors_tcp(handler_server, case):
    check(tcp(handler_server, case.qname, case.qtype), case)


@pytest.mark.parametrize("case", REVERSE_CASES)
def test_server_reverse_vectors_udp_tcp(case):
    with ServerThread(REVERSE_CONFIG, load(coredns_reverse_objects())) as srv:
        check(udp(srv, case.qname, case.qtype), case)
        check(tcp(srv, case.qname, case.qtype), case)


def test_server_ci_vectors_udp_tcp(upstream):
    config = dataclasses.replace(CI_CONFIG, upstreams=(upstream.upstream,))
    with ServerThread(config, load(ci_objects())) as srv:
        for param in CI_CASES:
            case = param.values[0]
            check(udp(srv, case.qname, case.qtype), case)
            check(tcp(srv, case.qname, case.qtype), case)


def test_server_not_synced_servfail_then_nxdomain(upstream):
    index = load(coredns_handler_objects(), synced=False)
    with ServerThread(HANDLER_CONFIG, index) as srv:
        case = Case("svc0.testns.svc.cluster.local.", "A", "SERVFAIL", ns=(SOA5,))
        check(udp(srv, case.qname), case)
        check(udp(srv, case.qname), case)  # cached
        srv.call(index.mark_synced)
        check(udp(srv, case.qname), dataclasses.replace(case, rcode="NXDOMAIN"))


def test_server_serial_moves_and_cache_invalidated_on_change():
    now = [1_800_000_000.0]
    index = load(coredns_handler_objects(), clock=lambda: now[0])
    with ServerThread(HANDLER_CONFIG, index) as srv:
        before = udp(srv, "cluster.local.", "SOA").answer[0][0].serial
        assert udp(srv, "new.testns.svc.cluster.local.").rcode() == dns.rcode.NXDOMAIN
        now[0] += 42
        srv.call(index.apply, "Service", "ADDED", service("new", "testns", cluster_ips=["10.0.0.42"], ports=[("http", "TCP", 80)]))
        assert udp(srv, "cluster.local.", "SOA").answer[0][0].serial == before + 42
        r = udp(srv, "new.testns.svc.cluster.local.")
        assert r.rcode() == dns.rcode.NOERROR and r.answer[0][0].address == "10.0.0.42"
        nx = udp(srv, "gone.testns.svc.cluster.local.")
        assert nx.authority[0][0].serial == before + 42
        srv.call(index.apply, "Service", "DELETED", service("new", "testns"))
        assert udp(srv, "new.testns.svc.cluster.local.").rcode() == dns.rcode.NXDOMAIN


def test_server_case_preserved_across_cache_hits(handler_server):
    for qname in ("SvC1.TeStNs.SvC.cLuStEr.LoCaL.", "svc1.testns.svc.cluster.local.", "SVC1.TESTNS.SVC.CLUSTER.LOCAL."):
        r = udp(handler_server, qname)
        assert rr_lines(r.answer) == [f"{qname} 5 IN A 10.0.0.1"]
        assert r.question[0].name.to_text() == qname
    for qname in ("_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.", "_http._tcp.svc1.testns.svc.CLUSTER.local."):
        zone = ".".join(qname.split(".")[-3:])  # the zone as the query spelled it
        r = tcp(handler_server, qname, "SRV")
        assert rr_lines(r.answer) == [f"{qname} 5 IN SRV 0 100 80 svc1.testns.svc.{zone}"]
        assert rr_lines(r.additional) == [f"svc1.testns.svc.{zone} 5 IN A 10.0.0.1"]
    nx = udp(handler_server, "nope.testns.svc.ClUsTeR.lOcAl.")
    assert nx.authority[0].name.to_text() == "ClUsTeR.lOcAl."
    assert nx.authority[0][0].mname.to_text() == "ns.dns.ClUsTeR.lOcAl."


def test_server_flags_ids_and_edns(handler_server):
    q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A", use_edns=0, want_dnssec=True)
    q.flags &= ~dns.flags.RD
    q.flags |= dns.flags.CD
    r = dns.query.udp(q, "127.0.0.1", port=handler_server.port, timeout=TIMEOUT)
    assert r.id == q.id and r.flags & dns.flags.AA and r.flags & dns.flags.CD
    assert not r.flags & (dns.flags.RD | dns.flags.RA)
    assert r.edns == 0 and r.ednsflags & dns.flags.DO
    r = udp(handler_server, "svc1.testns.svc.cluster.local.")
    assert r.edns == -1 and r.flags & dns.flags.RD


@pytest.fixture(scope="module")
def big_server():
    objs = [
        service("big", "testns", cluster_ips=["None"], ports=[("http", "TCP", 80)]),
        endpoint_slice("big-1", "testns", "big", [endpoint(f"10.7.0.{i}") for i in range(1, 61)], [("http", "TCP", 80)]),
    ]
    with ServerThread(dataclasses.replace(HANDLER_CONFIG, upstreams=()), load(objs)) as srv:
        yield srv


def test_server_truncation_udp_tcp_edns(big_server):
    name = "big.testns.svc.cluster.local."
    small = udp(big_server, name)
    assert small.flags & dns.flags.TC and 0 < sum(len(r) for r in small.answer) < 60
    assert len(small.to_wire()) <= 512
    full = tcp(big_server, name)
    assert not full.flags & dns.flags.TC and sum(len(r) for r in full.answer) == 60
    roomy = udp(big_server, name, edns=0, payload=4096)
    assert not roomy.flags & dns.flags.TC and sum(len(r) for r in roomy.answer) == 60
    medium = udp(big_server, name, edns=0, payload=600)
    got = sum(len(r) for r in medium.answer)
    assert medium.flags & dns.flags.TC and sum(len(r) for r in small.answer) < got < 60
    assert medium.edns == 0  # the OPT record survives truncation
    tiny = udp(big_server, name, edns=0, payload=100)  # below 512 counts as 512 (RFC 6891)
    assert tiny.flags & dns.flags.TC and 490 < len(tiny.to_wire()) <= 512
    srv = tcp(big_server, f"_http._tcp.{name}", "SRV")
    assert len(srv.answer[0]) == 60 and srv.answer[0][0].weight == 1


def test_server_externalname_chase_through_upstream(handler_server, upstream):
    case = Case("external.testns.svc.cluster.local.", "A", truncated=True, answer=(
        "external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.", "ext.interwebs.test. 5 IN A 1.2.3.4"))
    check(udp(handler_server, case.qname, edns=0), case)
    check(tcp(handler_server, case.qname), case)
    assert ("ext.interwebs.test.", "A", "tcp") in upstream.log  # TC over UDP was retried over TCP


def test_server_forwards_outside_names(handler_server, upstream):
    q = dns.message.make_query("outside.example.", "A")
    r = dns.query.udp(q, "127.0.0.1", port=handler_server.port, timeout=TIMEOUT)
    assert r.id == q.id and rr_lines(r.answer) == ["outside.example. 120 IN A 192.0.2.7"]
    assert r.flags & dns.flags.RA and not r.flags & dns.flags.AA  # the upstream's reply, relayed
    r = tcp(handler_server, "nothing.example.")
    assert r.rcode() == dns.rcode.NXDOMAIN
    # TC over UDP is retried over TCP upstream; the client then gets what fits (TC) or everything
    r = udp(handler_server, "big.example.", "TXT")
    assert r.flags & dns.flags.TC
    r = udp(handler_server, "big.example.", "TXT", edns=0, payload=4096)
    assert not r.flags & dns.flags.TC and len(r.answer[0]) == 4


def test_server_upstream_cache_honours_ttl(handler_server, upstream):
    before = len(upstream.log)
    for _ in range(3):
        assert udp(handler_server, "outside.example.").answer[0][0].address == "192.0.2.7"
    assert len(upstream.log) - before <= 1


def test_server_upstream_timeout_servfail(handler_server):
    r = udp(handler_server, "slow.example.")
    assert r.rcode() == dns.rcode.SERVFAIL


def test_server_refused_without_upstream():
    config = dataclasses.replace(HANDLER_CONFIG, upstreams=())
    with ServerThread(config, load(coredns_handler_objects())) as srv:
        r = udp(srv, "example.com.")
        assert r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.AA
        assert tcp(srv, "example.com.").rcode() == dns.rcode.REFUSED


def test_server_failover_to_second_upstream(upstream):
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    dead.bind(("127.0.0.1", 0))
    try:
        ups = (f"127.0.0.1:{dead.getsockname()[1]}", upstream.upstream)
        config = dataclasses.replace(HANDLER_CONFIG, upstreams=ups, upstream_timeout=0.3)
        with ServerThread(config, load(coredns_handler_objects())) as srv:
            r = udp(srv, "outside.example.")
            assert r.answer[0][0].address == "192.0.2.7"
    finally:
        dead.close()


def test_server_reverse_fallthrough_forwards_unknown_ptr(upstream):
    config = dataclasses.replace(REVERSE_CONFIG, reverse_zones=("in-addr.arpa", "ip6.arpa"), fallthrough_reverse=True,
                                 upstreams=(upstream.upstream,))
    with ServerThread(config, load(coredns_reverse_objects())) as srv:
        assert udp(srv, "100.1.168.192.in-addr.arpa.", "PTR").answer[0][0].target.to_text() == "svc1.testns.svc.cluster.local."
        r = udp(srv, "7.7.7.7.in-addr.arpa.", "PTR")
        assert r.rcode() == dns.rcode.NXDOMAIN and not r.flags & dns.flags.AA  # the upstream's answer
        assert ("7.7.7.7.in-addr.arpa.", "PTR", "udp") in upstream.log


def test_server_formerr_and_drops(handler_server):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    try:
        s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07garbage", ("127.0.0.1", handler_server.port))
        reply = s.recv(512)
        assert reply[:2] == b"\x12\x34" and reply[3] & 0x0F == dns.rcode.FORMERR and reply[2] & 0x80
        s.sendto(b"\x12\x34\x01", ("127.0.0.1", handler_server.port))  # no header: dropped
        q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A")
        q.flags |= dns.flags.QR  # a response: never answered
        s.sendto(q.to_wire(), ("127.0.0.1", handler_server.port))
        with pytest.raises(socket.timeout):
            s.recv(512)
        q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A")
        q.set_opcode(dns.opcode.UPDATE)
        r = dns.query.udp(q, "127.0.0.1", port=handler_server.port, timeout=TIMEOUT)
        assert r.rcode() == dns.rcode.NOTIMP
        q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A", use_edns=1)
        r = dns.query.udp(q, "127.0.0.1", port=handler_server.port, timeout=TIMEOUT)
        assert r.rcode() == dns.rcode.BADVERS
    finally:
        s.close()


def _tcp_frames(port, payloads, *, timeout=2.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        for p in payloads:
            s.sendall(len(p).to_bytes(2, "big") + p)
        out = []
        buf = b""
        while len(out) < len(payloads):
            chunk = s.recv(65535)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
                n = int.from_bytes(buf[:2], "big")
                out.append(dns.message.from_wire(buf[2 : 2 + n]))
                buf = buf[2 + n :]
        return out
    finally:
        s.close()


def test_server_tcp_pipelined_queries_one_connection(handler_server):
    names = [f"svc{x}.testns.svc.cluster.local." for x in ("1", "6", "0", "empty")] + ["outside.example."]
    queries = [dns.message.make_query(n, "AAAA" if "6" in n else "A") for n in names]
    replies = _tcp_frames(handler_server.port, [q.to_wire() for q in queries])
    assert sorted(r.id for r in replies) == sorted(q.id for q in queries)
    by_id = {r.id: r for r in replies}
    assert by_id[queries[2].id].rcode() == dns.rcode.NXDOMAIN
    assert by_id[queries[4].id].answer[0][0].address == "192.0.2.7"


def test_server_tcp_oversized_frame_closes(handler_server):
    s = socket.create_connection(("127.0.0.1", handler_server.port), timeout=2)
    try:
        s.sendall((60000).to_bytes(2, "big") + b"\x00" * 100)
        assert s.recv(10) == b""  # closed, nothing answered
    finally:
        s.close()


def test_server_tcp_idle_timeout_and_connection_bound():
    with ServerThread(HANDLER_CONFIG, load(coredns_handler_objects()), tcp_idle_timeout=0.3, tcp_max_connections=2) as srv:
        a = socket.create_connection(("127.0.0.1", srv.port), timeout=3)
        b = socket.create_connection(("127.0.0.1", srv.port), timeout=3)
        c = socket.create_connection(("127.0.0.1", srv.port), timeout=3)
        try:
            assert c.recv(10) == b""  # over the bound: closed at once
            assert a.recv(10) == b""  # idle: closed after the timeout
            assert b.recv(10) == b""
        finally:
            for s in (a, b, c):
                s.close()
        assert tcp(srv, "svc1.testns.svc.cluster.local.").answer  # still serving


def test_server_uvloop_and_index_api():
    pytest.importorskip("uvloop")
    index = ClusterIndex()
    with ServerThread(dataclasses.replace(HANDLER_CONFIG, namespaces=None), index, use_uvloop=True) as srv:
        assert srv.server.index is index
        srv.call(index.apply, "Service", "ADDED", service("svc1", "testns", cluster_ips=["10.0.0.1"], ports=[("http", "TCP", 80)]))
        srv.call(index.mark_synced)
        assert udp(srv, "svc1.testns.svc.cluster.local.").answer[0][0].address == "10.0.0.1"
        assert tcp(srv, "svc1.testns.svc.cluster.local.").answer[0][0].address == "10.0.0.1"


def test_server_dig(handler_server):
    dig = shutil.which("dig")
    if dig is None:
        pytest.skip("dig (bind9-dnsutils) is not installed")
    base = [dig, "@127.0.0.1", "-p", str(handler_server.port), "+time=2", "+tries=1"]
    out = subprocess.run(base + ["svc1.testns.svc.cluster.local.", "A"], capture_output=True, text=True, timeout=10).stdout
    flags = next(line for line in out.splitlines() if line.startswith(";; flags:"))
    assert " aa" in flags and " ra" not in flags and "qr" in flags, flags
    assert "status: NOERROR" in out
    assert any(line.split()[-1] == "10.0.0.1" and "\tA\t" in line for line in out.splitlines() if line and not line.startswith(";"))
    out = subprocess.run(base + ["+short", "_http._tcp.hdls1.testns.svc.cluster.local.", "SRV"], capture_output=True, text=True, timeout=10).stdout
    assert sorted(out.split("\n")[:-1])[0] == "0 16 80 172-0-0-2.hdls1.testns.svc.cluster.local."
    out = subprocess.run(base + ["svc0.testns.svc.cluster.local."], capture_output=True, text=True, timeout=10).stdout
    assert "status: NXDOMAIN" in out and "SOA\tns.dns.cluster.local. hostmaster.cluster.local." in out
    out = subprocess.run(base + ["+tcp", "+short", "hdls1.testns.svc.cluster.local.", "AAAA"], capture_output=True, text=True, timeout=10).stdout
    assert sorted(out.split()) == ["5678:abcd::1", "5678:abcd::2"]
