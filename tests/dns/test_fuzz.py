"""Hostile input: the wire parser and answer path never crash, never stall; FORMERR or drop.

Property tests drive Responder.handle directly (pure: bytes in, bytes out); the flood test sends
100,000 random packets to a real server on loopback and then checks it still answers.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time

import dns.message
import dns.query
import dns.rcode
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnstest_fixtures import coredns_handler_objects, load
from dnstest_server import ServerThread
from svcnet.dns.config import DNSConfig
from svcnet.dns.responder import Deferred, Responder

CONFIG = DNSConfig(reverse_zones=("in-addr.arpa",), pods="insecure", upstreams=(), namespaces=("testns",))
RESPONDER = Responder(CONFIG, load(coredns_handler_objects()))
VALID = [
    dns.message.make_query(n, t, use_edns=e).to_wire()
    for n, t in [("svc1.testns.svc.cluster.local.", "A"), ("_http._tcp.hdls1.testns.svc.cluster.local.", "SRV"),
                 ("1.0.0.10.in-addr.arpa.", "PTR"), ("external.testns.svc.cluster.local.", "A"), ("example.com.", "AAAA")]
    for e in (None, 0)
]


def assert_well_behaved(data: bytes, tcp: bool = False) -> None:
    out = RESPONDER.handle(data, tcp)
    if isinstance(out, Deferred):
        out = out.fallback()
        assert isinstance(out, bytes)
    if len(data) < 12 or data[2] & 0x80:
        assert out is None, "no header, or a response: must be dropped"
        return
    assert isinstance(out, bytes), "a query with a header always gets a reply"
    assert out[:2] == data[:2] and out[2] & 0x80
    assert tcp or len(out) <= 4096
    msg = dns.message.from_wire(out)  # our replies always parse
    if msg.rcode() == dns.rcode.FORMERR:
        assert not msg.answer


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=700), st.booleans())
def test_fuzz_random_bytes(data, tcp):
    assert_well_behaved(data, tcp)


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
       st.integers(0, 400), st.booleans())
def test_fuzz_mutated_valid_queries(base, flips, cut, tcp):
    data = bytearray(base)
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    assert_well_behaved(bytes(data[: max(cut, 0)] if cut < len(data) else data), tcp)


@settings(max_examples=800, deadline=None)
@given(st.lists(st.integers(0, 255), min_size=1, max_size=40), st.binary(max_size=60), st.integers(0, 3))
def test_fuzz_bad_label_lengths(lengths, filler, arcount):
    header = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, arcount)
    body = bytearray()
    for n in lengths:
        body.append(n)
        body += filler[: n % 64]
    assert_well_behaved(header + bytes(body) + b"\x00\x00\x01\x00\x01")


@pytest.mark.parametrize("name", [
    b"\xc0\x0c",  # points at itself
    b"\x03abc\xc0\x0c",  # loops back to the start
    b"\x03abc\xc0\x10",  # points forward into itself
    b"\xc0\xff",  # points past the end
    b"\x40" + b"a" * 64 + b"\x00",  # 64-byte label
    b"".join(b"\x3f" + b"a" * 63 for _ in range(5)) + b"\x00",  # name longer than 255
    b"\x03abc",  # no terminator
])
def test_fuzz_compression_loops_and_bad_names(name):
    data = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + name + b"\x00\x01\x00\x01"
    out = RESPONDER.handle(data)
    assert out[:2] == b"\x12\x34" and out[3] & 0x0F == dns.rcode.FORMERR


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00"])
def test_fuzz_short_headers_dropped(data):
    assert RESPONDER.handle(data) is None


def test_fuzz_header_only_and_counts():
    # QD=0 and QD=2 are FORMERR (miekg/dns rejects qdcount != 1); OPT version 1 is BADVERS
    assert RESPONDER.handle(struct.pack("!HHHHHH", 1, 0x0100, 0, 0, 0, 0))[3] & 0x0F == dns.rcode.FORMERR
    two = dns.message.make_query("a.cluster.local.", "A")
    two.question.append(two.question[0])
    assert dns.message.from_wire(RESPONDER.handle(two.to_wire())).rcode() == dns.rcode.FORMERR


def test_fuzz_tcp_frames_against_server():
    rng = random.Random(7)
    with ServerThread(CONFIG, load(coredns_handler_objects()), tcp_idle_timeout=0.3) as srv:
        for _ in range(30):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=3)
            try:
                size = rng.choice([0, 1, 11, 12, 200, 4096, 4097, 40000, 65535])
                s.sendall(size.to_bytes(2, "big") + os.urandom(min(size, rng.randint(0, 5000))))
                if rng.random() < 0.7:
                    s.shutdown(socket.SHUT_WR)  # a truncated frame then EOF; else the idle timeout
                s.settimeout(2)
                try:
                    while s.recv(65535):
                        pass
                except (socket.timeout, ConnectionResetError):
                    pass
            finally:
                s.close()
        q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A")
        assert dns.query.tcp(q, "127.0.0.1", port=srv.port, timeout=3).answer[0][0].address == "10.0.0.1"


@pytest.mark.slow
def test_fuzz_udp_flood_100k_then_still_answers():
    rng = random.Random(2024)
    templates = VALID
    with ServerThread(CONFIG, load(coredns_handler_objects())) as srv:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.setblocking(False)
        dest = ("127.0.0.1", srv.port)
        sent = received = 0
        deadline = time.monotonic() + 60
        try:
            for batch in range(100):
                for _ in range(1000):
                    kind = rng.random()
                    if kind < 0.5:
                        pkt = os.urandom(rng.randint(0, 300))
                    else:
                        pkt = bytearray(rng.choice(templates))
                        for _ in range(rng.randint(1, 4)):
                            pkt[rng.randrange(len(pkt))] = rng.randrange(256)
                        pkt = bytes(pkt[: rng.randint(0, len(pkt))])
                    try:
                        s.sendto(pkt, dest)
                        sent += 1
                    except BlockingIOError:
                        pass
                # drain replies so neither side's buffers stay full
                drain_until = time.monotonic() + 0.02
                while time.monotonic() < drain_until:
                    try:
                        s.recv(65535)
                        received += 1
                    except BlockingIOError:
                        time.sleep(0.001)
                assert time.monotonic() < deadline, "flood took too long"
        finally:
            s.close()
        assert sent >= 99_000
        # the server is alive and correct (retry while it works through its queue)
        q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A")
        for _ in range(20):
            try:
                r = dns.query.udp(q, "127.0.0.1", port=srv.port, timeout=1)
                break
            except dns.exception.Timeout:
                continue
        assert r.answer[0][0].address == "10.0.0.1" and r.rcode() == dns.rcode.NOERROR
        assert received > 0
