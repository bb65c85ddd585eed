"""The pure answer() against the upstream vectors of reference/dns.md §3.

Each table keeps the upstream test's name in its comment. Objects go through
``ClusterIndex.apply`` as Kubernetes JSON; queries are dnspython messages; answers are compared
as zone-file text (dnstest_case.check).
"""

from __future__ import annotations

import dataclasses
import time

import dns.flags
import dns.message
import dns.rcode
import pytest

from dnstest_case import SOA5, Case, ask, check, soa, upstream_reply
from dnstest_fixtures import (
    CI_LOCAL_IP,
    REVERSE_ZONES,
    ci_objects,
    coredns_handler_objects,
    coredns_reverse_objects,
    endpoint,
    endpoint_slice,
    load,
    service,
)
from svcnet.dns.answer import Forward, NeedUpstream, answer
from svcnet.dns.config import DNSConfig

# handler_test.go TestServeDNS: k := New([]string{"cluster.local."}); Namespaces = {testns}; pods disabled
HANDLER_CONFIG = DNSConfig(reverse_zones=(), pods="disabled", namespaces=("testns",), upstreams=("127.0.0.1:1",))


@pytest.fixture(scope="module")
def handler_index():
    return load(coredns_handler_objects())


def upstub(qname, qtype):
    # handler_test.go Upstub for "CNAME External Truncated Lookup": a truncated reply with the A record
    return upstream_reply(qname, qtype, ("ext.interwebs.test. 5 IN A 1.2.3.4",), truncated=True)


# reference/dns.md §3.2, vectors 1-36 (37/38 live in test_answer_pods_*.py).
# Upstream: plugin/kubernetes/handler_test.go dnsTestCases / notSyncedTestCases,
# handler_case_test.go TestPreserveCase, kubernetes_apex_test.go TestServeDNSApex.
HANDLER_CASES = [
    pytest.param(Case("svc1.testns.svc.cluster.local.", "A", answer=("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1",)), id="1-A-Service"),
    pytest.param(Case("svcempty.testns.svc.cluster.local.", "A", answer=("svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1",)), id="2-A-Service-no-endpoints"),
    pytest.param(Case("svc1.testns.svc.cluster.local.", "SRV",
                      answer=("svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.",),
                      extra=("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1",)), id="3-SRV-bare-service"),
    pytest.param(Case("svcempty.testns.svc.cluster.local.", "SRV",
                      answer=("svcempty.testns.svc.cluster.local. 5 IN SRV 0 100 80 svcempty.testns.svc.cluster.local.",),
                      extra=("svcempty.testns.svc.cluster.local. 5 IN A 10.0.0.1",)), id="3b-SRV-svcempty"),
    pytest.param(Case("_http._tcp.svc1.testns.svc.cluster.local.", "SRV",
                      answer=("_http._tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.",),
                      extra=("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1",)), id="4-SRV-Service"),
    pytest.param(Case("svc6.testns.svc.cluster.local.", "AAAA", answer=("svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1",)), id="5-AAAA-Service"),
    pytest.param(Case("_http._tcp.svc6.testns.svc.cluster.local.", "SRV",
                      answer=("_http._tcp.svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc6.testns.svc.cluster.local.",),
                      extra=("svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1",)), id="6-SRV-v6"),
    pytest.param(Case("svc6.testns.svc.cluster.local.", "SRV",
                      answer=("svc6.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc6.testns.svc.cluster.local.",),
                      extra=("svc6.testns.svc.cluster.local. 5 IN AAAA 1234:abcd::1",)), id="6b-SRV-bare-v6"),
    pytest.param(Case("svc1.testns.svc.cluster.local.", "AAAA", ns=(SOA5,)), id="7-AAAA-existing-A-no-AAAA"),
    pytest.param(Case("svc0.testns.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="8-A-non-existing-service"),
    pytest.param(Case("svc0.testns.svc.cluster.local.", "AAAA", "NXDOMAIN", ns=(SOA5,)), id="8b-AAAA-non-existing-service"),
    pytest.param(Case("svc0.svc-nons.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="9-A-non-existing-namespace"),
    pytest.param(Case("svc1.unexposedns.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="9b-A-unexposed-namespace"),
    pytest.param(Case("dns-version.cluster.local.", "TXT", answer=('dns-version.cluster.local. 28800 IN TXT "1.1.0"',)), id="10-TXT-Schema"),
    pytest.param(Case("svc1.testns.svc.cluster.local.", "TXT", ns=(SOA5,)), id="11-TXT-existing-service"),
    pytest.param(Case("svc0.svc-nons.svc.cluster.local.", "TXT", "NXDOMAIN", ns=(SOA5,)), id="12-TXT-non-existing"),
    pytest.param(Case("hdls1.testns.svc.cluster.local.", "A", answer=tuple(
        f"hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.{i}" for i in (2, 3, 4, 5))), id="13-A-Headless"),
    pytest.param(Case("hdls1.testns.svc.cluster.local.", "AAAA", answer=(
        "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1", "hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2")), id="14-AAAA-Headless"),
    pytest.param(Case("hdlsprtls.testns.svc.cluster.local.", "A", answer=("hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20",)), id="15-A-Headless-Portless"),
    pytest.param(Case("172-0-0-20.hdlsprtls.testns.svc.cluster.local.", "A",
                      answer=("172-0-0-20.hdlsprtls.testns.svc.cluster.local. 5 IN A 172.0.0.20",)), id="15b-A-Endpoint-no-port"),
    pytest.param(Case("hdlsprtls.testns.svc.cluster.local.", "SRV", ns=(SOA5,)), id="15c-SRV-Headless-Portless-NODATA"),
    pytest.param(Case("bogusendpoint.hdls1.testns.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="16-A-bogus-endpoint-headless"),
    pytest.param(Case("bogusendpoint.svc0.testns.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="17-A-bogus-endpoint-no-service"),
    pytest.param(Case("svc.cluster.local.", "A", ns=(SOA5,)), id="18-A-svc-NODATA"),
    pytest.param(Case("pod.cluster.local.", "A", ns=(SOA5,)), id="18b-A-pod-NODATA"),
    pytest.param(Case("testns.svc.cluster.local.", "A", ns=(SOA5,)), id="18c-A-namespace-NODATA"),
    pytest.param(Case("svc.cluster.local.", "NS", ns=(SOA5,)), id="19-NS-svc-NODATA"),
    pytest.param(Case("testns.svc.cluster.local.", "NS", ns=(SOA5,)), id="19b-NS-namespace-NODATA"),
    pytest.param(Case("foo.cluster.local.", "NS", "NXDOMAIN", ns=(SOA5,)), id="20-NS-foo-NXDOMAIN"),
    pytest.param(Case("foo.svc.cluster.local.", "NS", "NXDOMAIN", ns=(SOA5,)), id="20b-NS-foo-svc-NXDOMAIN"),
    pytest.param(Case("svc-dual-stack.testns.svc.cluster.local.", "A", answer=("svc-dual-stack.testns.svc.cluster.local. 5 IN A 10.0.0.3",)), id="21-A-dual-stack"),
    pytest.param(Case("svc-dual-stack.testns.svc.cluster.local.", "AAAA", answer=("svc-dual-stack.testns.svc.cluster.local. 5 IN AAAA 10::3",)), id="21b-AAAA-dual-stack"),
    pytest.param(Case("svc-dual-stack.testns.svc.cluster.local.", "SRV",
                      answer=("svc-dual-stack.testns.svc.cluster.local. 5 IN SRV 0 50 80 svc-dual-stack.testns.svc.cluster.local.",),
                      extra=("svc-dual-stack.testns.svc.cluster.local. 5 IN A 10.0.0.3",
                             "svc-dual-stack.testns.svc.cluster.local. 5 IN AAAA 10::3")), id="22-SRV-dual-stack"),
    pytest.param(Case("svc1.testns.svc.cluster.local.", "SOA", ns=(SOA5,)), id="23-SOA-non-apex-NODATA"),
    pytest.param(Case("endpoint.external.testns.svc.cluster.local.", "CNAME", "NXDOMAIN", ns=(SOA5,)), id="24-CNAME-below-ExternalName"),
    pytest.param(Case("subdomain.subdomain.external.testns.svc.cluster.local.", "CNAME", "NXDOMAIN", ns=(SOA5,)), id="24b-CNAME-deep-below-ExternalName"),
    pytest.param(Case("_http._tcp.external.testns.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="24c-A-port-below-ExternalName"),
    pytest.param(Case("_http._tcp.hdls1.testns.svc.cluster.local.", "SRV",
                      answer=tuple(f"_http._tcp.hdls1.testns.svc.cluster.local. 5 IN SRV 0 16 80 {t}.hdls1.testns.svc.cluster.local."
                                   for t in ("172-0-0-2", "172-0-0-3", "5678-abcd--1", "5678-abcd--2", "dup-name")),
                      extra=("172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2",
                             "172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3",
                             "5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",
                             "5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2",
                             "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4",
                             "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5")), id="25-SRV-Headless"),
    pytest.param(Case("5678-abcd--2.hdls1.testns.svc.cluster.local", "AAAA",
                      answer=("5678-abcd--2.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::2",)), id="26-AAAA-endpoint"),
    pytest.param(Case("5678-abcd--1.hdls1.testns.svc.cluster.local.", "AAAA",
                      answer=("5678-abcd--1.hdls1.testns.svc.cluster.local. 5 IN AAAA 5678:abcd::1",)), id="26b-AAAA-endpoint"),
    pytest.param(Case("172-0-0-2.hdls1.testns.svc.cluster.local.", "A", answer=("172-0-0-2.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.2",)), id="27-A-endpoint-ip"),
    pytest.param(Case("172-0-0-3.hdls1.testns.svc.cluster.local.", "A", answer=("172-0-0-3.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.3",)), id="27b-A-endpoint-ip"),
    pytest.param(Case("dup-name.hdls1.testns.svc.cluster.local.", "A", answer=(
        "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.4", "dup-name.hdls1.testns.svc.cluster.local. 5 IN A 172.0.0.5")), id="28-A-endpoint-by-name"),
    pytest.param(Case("ep1a.svc1.testns.svc.cluster.local.", "A", answer=("ep1a.svc1.testns.svc.cluster.local. 5 IN A 172.0.0.1",)), id="28b-A-endpoint-of-ClusterIP-service"),
    pytest.param(Case("external.testns.svc.cluster.local.", "CNAME", answer=("external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.",)), id="29-CNAME-External"),
    pytest.param(Case("external.testns.svc.cluster.local.", "A", truncated=True,
                      answer=("external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.", "ext.interwebs.test. 5 IN A 1.2.3.4")), id="30-CNAME-External-Truncated-Lookup"),
    pytest.param(Case("external.testns.svc.cluster.local.", "SRV", ns=(SOA5,)), id="30b-SRV-ExternalName-NODATA"),
    pytest.param(Case("external-to-service.testns.svc.cluster.local", "A", answer=(
        "external-to-service.testns.svc.cluster.local. 5 IN CNAME svc1.testns.svc.cluster.local.",
        "svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1")), id="31-CNAME-External-To-Internal-Service"),
    pytest.param(Case("external-to-service.testns.svc.cluster.local", "AAAA", ns=(SOA5,)), id="31b-AAAA-chase-no-records-NODATA"),
    pytest.param(Case("not-a-service.testns.svc.ClUsTeR.lOcAl.", "A", "NXDOMAIN", ns=(soa("ClUsTeR.lOcAl."),)), id="33-PreserveCase-NXDOMAIN"),
    pytest.param(Case("_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.", "SRV",
                      answer=("_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL. 5 IN SRV 0 100 80 svc1.testns.svc.cLuStEr.LoCaL.",),
                      extra=("svc1.testns.svc.cLuStEr.LoCaL. 5 IN A 10.0.0.1",)), id="34-PreserveCase-SRV"),
    pytest.param(Case("SvC1.TeStNs.SvC.cLuStEr.LoCaL.", "A", answer=("SvC1.TeStNs.SvC.cLuStEr.LoCaL. 5 IN A 10.0.0.1",)), id="34b-PreserveCase-A"),
    pytest.param(Case("cluster.local.", "NS", answer=("cluster.local. 5 IN NS ns.dns.cluster.local.",),
                      extra=("ns.dns.cluster.local. 5 IN A 127.0.0.1",)), id="35-apex-NS"),
    pytest.param(Case("cluster.local.", "SOA", answer=(SOA5,)), id="36-apex-SOA"),
    pytest.param(Case("cluster.local.", "A", ns=(SOA5,)), id="36b-apex-A-NODATA"),
    pytest.param(Case("cluster.local.", "AAAA", ns=(SOA5,)), id="36c-apex-AAAA-NODATA"),
    pytest.param(Case("cluster.local.", "SRV", ns=(SOA5,)), id="36d-apex-SRV-NODATA"),
    pytest.param(Case("cluster.local.", "HINFO", ns=(SOA5,)), id="36e-apex-HINFO-NODATA"),
    pytest.param(Case("ns.dns.cluster.local.", "A", answer=("ns.dns.cluster.local. 5 IN A 127.0.0.1",)), id="36f-ns-dns-A"),
    # our additions (dns.md §2.6 and §2.1)
    pytest.param(Case("*.svc1.testns.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="wildcard-removed"),
    pytest.param(Case("svc1.testns.svc.cluster.local.", "HINFO", ns=(SOA5,)), id="fake-A-NODATA"),
    pytest.param(Case("svc0.testns.svc.cluster.local.", "HINFO", "NXDOMAIN", ns=(SOA5,)), id="fake-A-NXDOMAIN"),
    pytest.param(Case("svc1.testns.svc.cluster.local.", "MX", ns=(SOA5,)), id="MX-NODATA"),
    pytest.param(Case("svc1.testns.svc.cluster.local.", "PTR", ns=(SOA5,)), id="PTR-at-service-NODATA"),
    pytest.param(Case("svc1.testns.svc.cluster.local.", "CNAME", ns=(SOA5,)), id="CNAME-at-ClusterIP-NODATA"),
    pytest.param(Case("_x._udp.svc1.testns.svc.cluster.local.", "SRV", "NXDOMAIN", ns=(SOA5,)), id="SRV-unknown-port-NXDOMAIN"),
    pytest.param(Case("_http._udp.svc1.testns.svc.cluster.local.", "SRV", "NXDOMAIN", ns=(SOA5,)), id="SRV-wrong-proto-NXDOMAIN"),
    pytest.param(Case("http.tcp.svc1.testns.svc.cluster.local.", "SRV",
                      answer=("http.tcp.svc1.testns.svc.cluster.local. 5 IN SRV 0 100 80 svc1.testns.svc.cluster.local.",),
                      extra=("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1",)), id="SRV-no-underscores"),
    pytest.param(Case("a.b.c.svc1.testns.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="too-many-labels"),
    pytest.param(Case("example.com.testns.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="search-path-1"),
    pytest.param(Case("example.com.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="search-path-2"),
    pytest.param(Case("example.com.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="search-path-3"),
    pytest.param(Case("dns-version.cluster.local.", "A", ns=(SOA5,)), id="dns-version-A-NODATA"),
    pytest.param(Case("svc1.testns.svc.cluster.local.", "AXFR", "REFUSED", authoritative=False), id="AXFR-REFUSED"),
    pytest.param(Case("cluster.local.", "IXFR", "REFUSED", authoritative=False), id="IXFR-REFUSED"),
]


@pytest.mark.parametrize("case", HANDLER_CASES)
def test_answer_handler_vectors(handler_index, case):
    check(ask(handler_index, HANDLER_CONFIG, case, upstub), case)


def test_answer_not_synced_servfail():
    # handler_test.go TestNotSyncedServeDNS (vector 32)
    index = load(coredns_handler_objects(), synced=False)
    case = Case("svc0.testns.svc.cluster.local.", "A", "SERVFAIL", ns=(SOA5,))
    check(ask(index, HANDLER_CONFIG, case), case)
    # names that exist are still answered before the sync
    ok = Case("svc1.testns.svc.cluster.local.", "A", answer=("svc1.testns.svc.cluster.local. 5 IN A 10.0.0.1",))
    check(ask(index, HANDLER_CONFIG, ok), ok)
    index.mark_synced()
    check(ask(index, HANDLER_CONFIG, case), dataclasses.replace(case, rcode="NXDOMAIN"))


def test_answer_flags_rd_copied_ra_clear(handler_index):
    q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A")
    q.flags |= dns.flags.CD
    r = answer(handler_index, HANDLER_CONFIG, q)
    assert r.flags & dns.flags.RD and r.flags & dns.flags.CD and r.flags & dns.flags.AA and not r.flags & dns.flags.RA
    q.flags &= ~(dns.flags.RD | dns.flags.CD)
    r = answer(handler_index, HANDLER_CONFIG, q)
    assert not r.flags & (dns.flags.RD | dns.flags.CD)
    assert r.id == q.id and r.question == q.question


def test_answer_non_in_class_refused(handler_index):
    q = dns.message.make_query("svc1.testns.svc.cluster.local.", "A", rdclass="CH")
    r = answer(handler_index, HANDLER_CONFIG, q)
    assert r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.AA


def test_answer_edns_echoed(handler_index):
    r = answer(handler_index, HANDLER_CONFIG, dns.message.make_query("svc1.testns.svc.cluster.local.", "A", use_edns=0, want_dnssec=True))
    assert r.edns == 0 and r.ednsflags & dns.flags.DO
    r = answer(handler_index, HANDLER_CONFIG, dns.message.make_query("svc1.testns.svc.cluster.local.", "A"))
    assert r.edns == -1


def test_answer_ttl_configurable(handler_index):
    config = dataclasses.replace(HANDLER_CONFIG, ttl=30)
    check(ask(handler_index, config, Case("svc1.testns.svc.cluster.local.", "A")),
          Case("svc1.testns.svc.cluster.local.", "A", answer=("svc1.testns.svc.cluster.local. 30 IN A 10.0.0.1",)))
    config = dataclasses.replace(HANDLER_CONFIG, ttl=3600)
    case = Case("svc0.testns.svc.cluster.local.", "A", "NXDOMAIN", ns=(soa(ttl=300, minimum=3600),))
    check(ask(handler_index, config, case), case)


def test_answer_soa_serial_is_index_serial():
    now = [1_700_000_000.0]
    index = load(coredns_handler_objects(), clock=lambda: now[0])
    r = answer(index, HANDLER_CONFIG, dns.message.make_query("cluster.local.", "SOA"))
    assert r.answer[0][0].serial == 1_700_000_000
    now[0] += 100
    index.apply("Service", "ADDED", service("new", "testns", cluster_ips=["10.0.0.77"], ports=[("http", "TCP", 80)]))
    r = answer(index, HANDLER_CONFIG, dns.message.make_query("cluster.local.", "SOA"))
    assert r.answer[0][0].serial == 1_700_000_100


def test_answer_external_upstream_nxdomain_gives_cname_only(handler_index):
    # [CODE] backend_lookup.go A(): the upstream rcode is not propagated
    case = Case("external.testns.svc.cluster.local.", "A", answer=("external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.",))
    check(ask(handler_index, HANDLER_CONFIG, case, lambda n, t: upstream_reply(n, t, (), rcode=dns.rcode.NXDOMAIN)), case)


def test_answer_external_upstream_failure_gives_nodata(handler_index):
    case = Case("external.testns.svc.cluster.local.", "A", ns=(SOA5,))
    check(ask(handler_index, HANDLER_CONFIG, case, lambda n, t: None), case)


def test_answer_external_need_upstream_shape(handler_index):
    r = answer(handler_index, HANDLER_CONFIG, dns.message.make_query("external.testns.svc.cluster.local.", "AAAA"))
    assert isinstance(r, NeedUpstream)
    assert r.qname.to_text() == "ext.interwebs.test." and r.qtype == 28
    req = r.request()
    assert req.question[0].name == r.qname and req.flags & dns.flags.RD


def _chain_index(*extra):
    objs = coredns_handler_objects() + list(extra)
    return load(objs)


def test_answer_cname_loop_dropped():
    index = _chain_index(
        service("loop", "testns", type="ExternalName", external_name="loop.testns.svc.cluster.local"),
        service("ping", "testns", type="ExternalName", external_name="pong.testns.svc.cluster.local"),
        service("pong", "testns", type="ExternalName", external_name="ping.testns.svc.cluster.local"),
    )
    for name in ("loop", "ping"):
        case = Case(f"{name}.testns.svc.cluster.local.", "A", ns=(SOA5,))
        check(ask(index, HANDLER_CONFIG, case), case)


def test_answer_cname_chain_max_length():
    # c0 -> c1 -> ... -> c11 -> svc1: longer than MAX_CNAME_CHAIN, so nothing resolves
    chain = [service(f"c{i}", "testns", type="ExternalName", external_name=f"c{i + 1}.testns.svc.cluster.local") for i in range(11)]
    chain.append(service("c11", "testns", type="ExternalName", external_name="svc1.testns.svc.cluster.local"))
    index = _chain_index(*chain)
    long_case = Case("c0.testns.svc.cluster.local.", "A", ns=(SOA5,))
    check(ask(index, HANDLER_CONFIG, long_case), long_case)
    short = ask(index, HANDLER_CONFIG, Case("c5.testns.svc.cluster.local.", "A"))
    assert short.rcode() == dns.rcode.NOERROR and len(short.answer) == 8  # 7 CNAMEs + svc1 A


def test_answer_chain_through_inzone_to_upstream():
    index = _chain_index(service("hop", "testns", type="ExternalName", external_name="external.testns.svc.cluster.local"))
    case = Case("hop.testns.svc.cluster.local.", "A", answer=(
        "hop.testns.svc.cluster.local. 5 IN CNAME external.testns.svc.cluster.local.",
        "external.testns.svc.cluster.local. 5 IN CNAME ext.interwebs.test.",
        "ext.interwebs.test. 300 IN A 1.2.3.4"))
    check(ask(index, HANDLER_CONFIG, case, lambda n, t: upstream_reply(n, t, ("ext.interwebs.test. 300 IN A 1.2.3.4",))), case)


def test_answer_ip_literal_externalname_nxdomain():
    index = _chain_index(service("iplit", "testns", type="ExternalName", external_name="1.2.3.4"))
    for qtype in ("A", "CNAME"):
        case = Case("iplit.testns.svc.cluster.local.", qtype, "NXDOMAIN", ns=(SOA5,))
        check(ask(index, HANDLER_CONFIG, case), case)


def test_answer_outside_zone_forward_or_refused(handler_index):
    q = dns.message.make_query("example.com.", "A")
    r = answer(handler_index, HANDLER_CONFIG, q)
    assert isinstance(r, Forward) and r.query is q and r.fallback.rcode() == dns.rcode.REFUSED
    r = answer(handler_index, dataclasses.replace(HANDLER_CONFIG, upstreams=()), q)
    assert isinstance(r, dns.message.Message) and r.rcode() == dns.rcode.REFUSED and not r.flags & dns.flags.AA


def test_answer_endpoint_pod_names():
    objs = [
        service("web", "testns", cluster_ips=["None"], ports=[("http", "TCP", 80)]),
        endpoint_slice("web-1", "testns", "web", [endpoint("10.1.0.1", pod="web-0"), endpoint("10.1.0.2", pod="x" * 64),
                                                  endpoint("10.1.0.3", hostname="named", pod="web-2")], [("http", "TCP", 80)]),
    ]
    index = load(objs)
    config = dataclasses.replace(HANDLER_CONFIG, endpoint_pod_names=True)
    case = Case("_http._tcp.web.testns.svc.cluster.local.", "SRV",
                answer=tuple(f"_http._tcp.web.testns.svc.cluster.local. 5 IN SRV 0 33 80 {t}.web.testns.svc.cluster.local."
                             for t in ("web-0", "10-1-0-2", "named")),
                extra=("web-0.web.testns.svc.cluster.local. 5 IN A 10.1.0.1", "10-1-0-2.web.testns.svc.cluster.local. 5 IN A 10.1.0.2",
                       "named.web.testns.svc.cluster.local. 5 IN A 10.1.0.3"))
    check(ask(index, config, case), case)
    case = Case("web-0.web.testns.svc.cluster.local.", "A", answer=("web-0.web.testns.svc.cluster.local. 5 IN A 10.1.0.1",))
    check(ask(index, config, case), case)
    case = Case("web-0.web.testns.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,))
    check(ask(index, HANDLER_CONFIG, case), case)


def test_answer_headless_all_unready_nxdomain_every_type():
    index = load([
        service("hl", "testns", cluster_ips=["None"], ports=[("http", "TCP", 80)]),
        endpoint_slice("hl-1", "testns", "hl", [endpoint("10.1.0.1", ready=False)], [("http", "TCP", 80)]),
    ])
    for qtype in ("A", "AAAA", "SRV", "TXT", "HINFO"):
        case = Case("hl.testns.svc.cluster.local.", qtype, "NXDOMAIN", ns=(SOA5,))
        check(ask(index, HANDLER_CONFIG, case), case)
    # ready: null counts as ready
    index.apply("EndpointSlice", "MODIFIED", endpoint_slice("hl-1", "testns", "hl", [endpoint("10.1.0.1", ready=None)], [("http", "TCP", 80)]))
    case = Case("hl.testns.svc.cluster.local.", "A", answer=("hl.testns.svc.cluster.local. 5 IN A 10.1.0.1",))
    check(ask(index, HANDLER_CONFIG, case), case)


# reverse_test.go TestReverse (dns.md §3.2 "Reverse")
REVERSE_CONFIG = DNSConfig(reverse_zones=REVERSE_ZONES, fallthrough_reverse=False, upstreams=())
IP6_EP1B = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.c.b.a.4.3.2.1.ip6.arpa."
REVERSE_CASES = [
    pytest.param(Case("100.1.168.192.in-addr.arpa.", "PTR", answer=("100.1.168.192.in-addr.arpa. 5 IN PTR svc1.testns.svc.cluster.local.",)), id="ClusterIP"),
    pytest.param(Case("100.0.0.10.in-addr.arpa.", "PTR", answer=("100.0.0.10.in-addr.arpa. 5 IN PTR ep1a.svc1.testns.svc.cluster.local.",)), id="endpoint-in-two-slices"),
    pytest.param(Case("99.0.0.10.in-addr.arpa.", "PTR", answer=("99.0.0.10.in-addr.arpa. 5 IN PTR double-ep.svc1.testns.svc.cluster.local.",
                                                              "99.0.0.10.in-addr.arpa. 5 IN PTR double-ep.svc2.testns.svc.cluster.local.")), id="endpoint-of-two-services"),
    pytest.param(Case(IP6_EP1B, "PTR", answer=(f"{IP6_EP1B} 5 IN PTR ep1b.svc1.testns.svc.cluster.local.",)), id="ipv6-endpoint"),
    pytest.param(Case("a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.", "PTR",
                      answer=("a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa. 5 IN PTR ip6svc1ex.svc1.testns.svc.cluster.local.",)), id="ipv6-endpoint-2"),
    pytest.param(Case("6.a.b.9.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa.", "PTR",
                      answer=("6.a.b.9.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.7.7.0.0.0.0.d.f.ip6.arpa. 5 IN PTR ip6svc1in.svc1.testns.svc.cluster.local.",)), id="ipv6-endpoint-3"),
    pytest.param(Case("101.0.0.10.in-addr.arpa.", "PTR", "NXDOMAIN", ns=(soa("0.10.in-addr.arpa."),)), id="unknown-ip"),
    pytest.param(Case("svc1.testns.svc.cluster.local.", "PTR", ns=(SOA5,)), id="PTR-forward-name-NODATA"),
    pytest.param(Case("svc1.testns.svc.0.10.in-addr.arpa.", "A", "NXDOMAIN", ns=(soa("0.10.in-addr.arpa."),)), id="forward-shape-in-reverse-zone"),
    pytest.param(Case("example.org.cluster.local.", "PTR", "NXDOMAIN", ns=(SOA5,)), id="PTR-invalid-forward-name"),
    pytest.param(Case("0.10.in-addr.arpa.", "SOA", answer=(soa("0.10.in-addr.arpa."),)), id="reverse-apex-SOA"),
    pytest.param(Case("100.0.0.10.In-AdDr.ArPa.", "PTR", answer=("100.0.0.10.In-AdDr.ArPa. 5 IN PTR ep1a.svc1.testns.svc.cluster.local.",)), id="reverse-case-preserved"),
]


@pytest.mark.parametrize("case", REVERSE_CASES)
def test_answer_reverse_vectors(case):
    check(ask(load(coredns_reverse_objects()), REVERSE_CONFIG, case), case)


def test_answer_reverse_fallthrough_forwards():
    # kubeadm: fallthrough in-addr.arpa ip6.arpa -> unknown PTRs go upstream
    index = load(coredns_reverse_objects())
    config = DNSConfig(upstreams=("127.0.0.1:53",))
    r = answer(index, config, dns.message.make_query("8.8.8.8.in-addr.arpa.", "PTR"))
    assert isinstance(r, Forward) and r.fallback.rcode() == dns.rcode.NXDOMAIN
    assert r.fallback.authority[0].name.to_text() == "in-addr.arpa."
    r = answer(index, config, dns.message.make_query("100.1.168.192.in-addr.arpa.", "PTR"))
    assert r.answer[0][0].target.to_text() == "svc1.testns.svc.cluster.local."
    # with no upstream at all, fallthrough has nowhere to go: plain NXDOMAIN
    r = answer(index, dataclasses.replace(config, upstreams=()), dns.message.make_query("8.8.8.8.in-addr.arpa.", "PTR"))
    assert r.rcode() == dns.rcode.NXDOMAIN


# coredns/ci test/kubernetes address_test.go, srv_test.go, ptr_test.go over dns-test.yaml
CI_CONFIG = DNSConfig(namespaces=("test-1", "test-2", "kube-system"), local_ips=(CI_LOCAL_IP,), fallthrough_reverse=False, upstreams=("127.0.0.1:1",))
CI_CASES = [
    pytest.param(Case("headless-svc.test-1.svc.cluster.local.", "A", answer=(
        "headless-svc.test-1.svc.cluster.local. 5 IN A 172.17.0.254", "headless-svc.test-1.svc.cluster.local. 5 IN A 172.17.0.255")), id="headless-A"),
    pytest.param(Case("headless-svc.test-1.svc.cluster.local.", "AAAA", answer=(
        "headless-svc.test-1.svc.cluster.local. 5 IN AAAA 1234:abcd::1", "headless-svc.test-1.svc.cluster.local. 5 IN AAAA 1234:abcd::2")), id="headless-AAAA"),
    pytest.param(Case("svc-unready.test-1.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="svc-unready"),
    pytest.param(Case("svc-1-a.test-1.svc.cluster.local.", "SRV", answer=(
        "svc-1-a.test-1.svc.cluster.local. 5 IN SRV 0 50 443 svc-1-a.test-1.svc.cluster.local.",
        "svc-1-a.test-1.svc.cluster.local. 5 IN SRV 0 50 80 svc-1-a.test-1.svc.cluster.local."),
        extra=("svc-1-a.test-1.svc.cluster.local. 5 IN A 10.96.0.100",)), id="srv-two-ports"),
    pytest.param(Case("253.0.17.172.in-addr.arpa.", "PTR", answer=("253.0.17.172.in-addr.arpa. 5 IN PTR svc-1-a.svc-1-a.test-1.svc.cluster.local.",)), id="ptr-endpoint-hostname"),
    pytest.param(Case("120.0.96.10.in-addr.arpa.", "PTR", "NXDOMAIN", ns=(soa("in-addr.arpa."),)), id="ptr-unexposed-namespace"),
    pytest.param(Case("cluster.local.", "NS", answer=("cluster.local. 5 IN NS kube-dns.kube-system.svc.cluster.local.",),
                      extra=("kube-dns.kube-system.svc.cluster.local. 5 IN A 10.96.0.10",)), id="apex-NS-kube-dns"),
    pytest.param(Case("172-17-0-222.new-svc.test-1.svc.cluster.local.", "A",
                      answer=("172-17-0-222.new-svc.test-1.svc.cluster.local. 5 IN A 172.17.0.222",)), id="endpoint-of-ClusterIP-service"),
    pytest.param(Case("bogusendpoint.svc-1-a.test-1.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="bogusendpoint-ClusterIP"),
    pytest.param(Case("ext-svc.test-1.svc.cluster.local.", "A", answer=(
        "ext-svc.test-1.svc.cluster.local. 5 IN CNAME example.net.", "example.net. 300 IN A 13.14.15.16")), id="externalname-via-upstream"),
    pytest.param(Case("10-20-0-101.test-1.pod.cluster.local.", "A", answer=("10-20-0-101.test-1.pod.cluster.local. 5 IN A 10.20.0.101",)), id="pods-insecure"),
    pytest.param(Case("10-20-0-101.test-X.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="pods-namespace-missing"),
]


@pytest.mark.parametrize("case", CI_CASES)
def test_answer_ci_vectors(case):
    index = load(ci_objects())
    up = lambda n, t: upstream_reply(n, t, ("example.net. 300 IN A 13.14.15.16",))  # noqa: E731
    check(ask(index, CI_CONFIG, case, up), case)


def test_answer_ns_service_configured():
    index = load(ci_objects())
    config = DNSConfig(ns_service="kube-system/kube-dns", upstreams=())
    case = Case("cLuStEr.LoCaL.", "NS", answer=("cLuStEr.LoCaL. 5 IN NS kube-dns.kube-system.svc.cLuStEr.LoCaL.",),
                extra=("kube-dns.kube-system.svc.cLuStEr.LoCaL. 5 IN A 10.96.0.10",))
    check(ask(index, config, case), case)


def test_answer_namespace_exists_via_namespace_object_or_service():
    index = load(ci_objects())
    config = DNSConfig(upstreams=())
    check(ask(index, config, Case("test-2.svc.cluster.local.", "A")), Case("test-2.svc.cluster.local.", "A", ns=(SOA5,)))
    check(ask(index, config, Case("test-3.svc.cluster.local.", "A")), Case("test-3.svc.cluster.local.", "A", ns=(SOA5,)))
    check(ask(index, config, Case("test-9.svc.cluster.local.", "A")), Case("test-9.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)))
    index.apply("Namespace", "DELETED", {"metadata": {"name": "test-2"}})
    check(ask(index, config, Case("test-2.svc.cluster.local.", "A")), Case("test-2.svc.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)))


def test_answer_dual_stack_headless_slices_merged_and_deduplicated():
    index = load([
        service("m", "testns", cluster_ips=["None"]),
        endpoint_slice("m-a", "testns", "m", [endpoint("10.9.0.1"), endpoint("10.9.0.2")], [("http", "TCP", 80)]),
        endpoint_slice("m-b", "testns", "m", [endpoint("10.9.0.2"), endpoint("10.9.0.3")], [("http", "TCP", 80)]),
        endpoint_slice("m-c", "testns", "m", [endpoint("fd00::1")], [("http", "TCP", 80)]),
    ])
    config = DNSConfig(upstreams=())
    case = Case("m.testns.svc.cluster.local.", "A", answer=tuple(f"m.testns.svc.cluster.local. 5 IN A 10.9.0.{i}" for i in (1, 2, 3)))
    check(ask(index, config, case), case)
    case = Case("m.testns.svc.cluster.local.", "AAAA", answer=("m.testns.svc.cluster.local. 5 IN AAAA fd00::1",))
    check(ask(index, config, case), case)


def test_answer_serial_before_first_event_is_start_time():
    before = int(time.time())
    index = load([])
    r = answer(index, DNSConfig(upstreams=()), dns.message.make_query("cluster.local.", "SOA"))
    assert r.answer[0][0].serial >= before
