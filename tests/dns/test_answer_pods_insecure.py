"""Pod records with ``pods insecure`` (kubeadm's default).

Upstream: plugin/kubernetes/handler_pod_insecure_test.go podModeInsecureCases (HEAD: ``<ns>.pod``
alone is NODATA), plus the IPv6 and namespace rules of dns.md §1.5.
"""

import pytest

from dnstest_case import SOA5, Case, ask, check
from dnstest_fixtures import load, namespace, pod
from svcnet.dns.config import DNSConfig

CONFIG = DNSConfig(pods="insecure", reverse_zones=(), upstreams=())
OBJECTS = [namespace("podns"), namespace("svcns"), pod("foo", "podns", "10.240.0.1")]

CASES = [
    pytest.param(Case("10-240-0-1.podns.pod.cluster.local.", "A", answer=("10-240-0-1.podns.pod.cluster.local. 5 IN A 10.240.0.1",)), id="A"),
    pytest.param(Case("172-0-0-2.podns.pod.cluster.local.", "A", answer=("172-0-0-2.podns.pod.cluster.local. 5 IN A 172.0.0.2",)), id="A-no-such-pod-still-answers"),
    pytest.param(Case("blah.podns.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="label-not-ip-A"),
    pytest.param(Case("blah.podns.pod.cluster.local.", "AAAA", "NXDOMAIN", ns=(SOA5,)), id="label-not-ip-AAAA"),
    pytest.param(Case("blah.podns.pod.cluster.local.", "HINFO", "NXDOMAIN", ns=(SOA5,)), id="label-not-ip-HINFO"),
    pytest.param(Case("blah.pod-nons.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="namespace-missing"),
    pytest.param(Case("10-240-0-1.pod-nons.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="ip-label-namespace-missing"),
    pytest.param(Case("podns.pod.cluster.local.", "A", ns=(SOA5,)), id="namespace-only-NODATA"),
    pytest.param(Case("10-240-0-1.podns.pod.cluster.local.", "AAAA", ns=(SOA5,)), id="v4-pod-AAAA-NODATA"),
    pytest.param(Case("5678-abcd--1.podns.pod.cluster.local.", "AAAA", answer=("5678-abcd--1.podns.pod.cluster.local. 5 IN AAAA 5678:abcd::1",)), id="v6-AAAA"),
    pytest.param(Case("10-240-0-01.podns.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="leading-zero-not-an-ip"),
    pytest.param(Case("x.10-240-0-1.podns.pod.cluster.local.", "A", "NXDOMAIN", ns=(SOA5,)), id="label-below-pod-NXDOMAIN"),
    pytest.param(Case("10-240-0-1.PoDnS.pOd.cluster.local.", "A", answer=("10-240-0-1.PoDnS.pOd.cluster.local. 5 IN A 10.240.0.1",)), id="case-preserved"),
]


@pytest.mark.parametrize("case", CASES)
def test_answer_pods_insecure(case):
    check(ask(load(OBJECTS), CONFIG, case), case)
