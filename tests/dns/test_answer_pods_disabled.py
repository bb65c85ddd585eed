"""Pod records with ``pods disabled`` (the CoreDNS plugin default; vector 38).

Upstream: plugin/kubernetes/handler_pod_disabled_test.go podModeDisabledCases.
"""

import pytest

from dnstest_case import SOA5, Case, ask, check
from dnstest_fixtures import load, namespace, pod
from svcnet.dns.config import DNSConfig

CONFIG = DNSConfig(pods="disabled", reverse_zones=(), upstreams=())
OBJECTS = [namespace("podns"), pod("foo", "podns", "10.240.0.1")]

CASES = [
    pytest.param(Case("10-240-0-1.podns.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="A"),
    pytest.param(Case("172-0-0-2.podns.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="A-other"),
    pytest.param(Case("5678-abcd--1.podns.pod.cluster.local.", "AAAA", "NXDOMAIN", ns=(SOA5,)), id="AAAA"),
    pytest.param(Case("podns.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="namespace-only"),
    pytest.param(Case("pod.cluster.local.", "A", ns=(SOA5,)), id="pod-label-alone-NODATA"),
]


@pytest.mark.parametrize("case", CASES)
def test_answer_pods_disabled(case):
    check(ask(load(OBJECTS), CONFIG, case), case)
