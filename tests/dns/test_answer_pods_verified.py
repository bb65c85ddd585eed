"""Pod records with ``pods verified``: only pods that exist, in that namespace.

Upstream: plugin/kubernetes/handler_pod_verified_test.go podModeVerifiedCases, and coredns/ci
pods_test ("verified with no such pod -> NXDOMAIN").
"""

import dns.message
import pytest

from dnstest_case import SOA5, Case, ask, check
from dnstest_fixtures import load, namespace, pod
from svcnet.dns.answer import answer
from svcnet.dns.config import DNSConfig

CONFIG = DNSConfig(pods="verified", reverse_zones=(), upstreams=())
OBJECTS = [namespace("podns"), namespace("svcns"), pod("foo", "podns", "10.240.0.1"),
           pod("done", "podns", "10.240.0.9", phase="Succeeded")]

CASES = [
    pytest.param(Case("10-240-0-1.podns.pod.cluster.local.", "A", answer=("10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1",)), id="A"),
    pytest.param(Case("podns.pod.cluster.local.", "A", ns=(SOA5,)), id="namespace-only-NODATA"),
    pytest.param(Case("svcns.svc.cluster.local.", "A", ns=(SOA5,)), id="svc-namespace-NODATA"),
    pytest.param(Case("pod-nons.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="namespace-missing"),
    pytest.param(Case("172-0-0-2.podns.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="no-such-pod"),
    pytest.param(Case("10-240-0-1.svcns.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="pod-in-other-namespace"),
    pytest.param(Case("10-240-0-9.podns.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="terminated-pod"),
]


@pytest.mark.parametrize("case", CASES)
def test_answer_pods_verified(case):
    check(ask(load(OBJECTS, track_pods=True), CONFIG, case), case)


def test_answer_pods_verified_follows_pod_events():
    index = load(OBJECTS, track_pods=True)
    q = dns.message.make_query("10-240-0-7.podns.pod.cluster.local.", "A")
    assert answer(index, CONFIG, q).rcode() == 3
    serial, gen = index.serial, index.generation
    assert index.apply("Pod", "ADDED", pod("bar", "podns", "10.240.0.7"))
    assert index.generation > gen and index.serial >= serial
    assert answer(index, CONFIG, q).answer[0][0].address == "10.240.0.7"
    index.apply("Pod", "DELETED", pod("bar", "podns", "10.240.0.7"))
    assert answer(index, CONFIG, q).rcode() == 3


def test_index_ignores_pods_unless_tracking():
    index = load(OBJECTS, track_pods=False)
    assert index.pods_by_ip("10.240.0.1") == []
    assert not index.apply("Pod", "ADDED", pod("bar", "podns", "10.240.0.7"))
