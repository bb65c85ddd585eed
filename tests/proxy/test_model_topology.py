"""Tables for svcnet.proxy.model.endpoints.categorize_endpoints: which endpoints a service port
uses for Cluster and Local traffic policy, and zone-hint (topology) filtering.

Every case of upstream ``pkg/proxy/topology_test.go::TestCategorizeEndpoints`` is ported below,
names verbatim. Two upstream versions of that table exist and both are covered:

- the newer one (kubernetes/kubernetes@6c039d9, no feature gates: hints are used whenever every
  ready endpoint has one), and
- the older one (kubernetes/kubernetes@0275699, gated by ``TopologyAwareHints`` + the
  ``service.kubernetes.io/topology-aware-hints`` annotation and by ``ProxyTerminatingEndpoints``);
  only the cases whose names do not appear in the newer table are repeated here.

How upstream's fields map to ours:

- ``BaseEndpointInfo{endpoint, zoneHints, ready, serving, terminating, isLocal}`` becomes
  ``EndpointInfo(ip, port, zone_hints, ready, serving, terminating, is_local)``. Fields a Go literal
  leaves out are Go zero values (false / nil), so :func:`ep` defaults every flag to False and
  ``zone_hints`` to None; this matters because our ``EndpointInfo`` defaults ready/serving to True.
- ``BaseServicePortInfo{internalPolicyLocal, externalPolicyLocal, nodePort}`` becomes
  ``ServicePortInfo(internal_policy_local=, external_policy_local=, node_port=)``.
- svcnet enables zone-hint filtering only when the Service asks for it, through
  ``traffic_distribution`` ``PreferClose`` / ``PreferSameZone``. Upstream's newer table has no
  per-Service switch (hints exist only because the Service asked for them), so every case there
  that carries hints sets ``PreferClose``. The older table's annotation maps as
  ``auto`` -> ``PreferClose``, ``Auto`` -> ``PreferSameZone``, ``disabled`` / empty / absent -> ``""``
  and the wrongly capitalised ``aUto`` -> ``preferclose`` (not a value we accept, so ignored).
- ``node_labels`` stay a dict; only ``topology.kubernetes.io/zone`` is read.

Expected sets follow upstream's convention: ``None`` means "this service port does not use this
kind of endpoint at all" and ``set()`` means "it does, but has none". ``all`` may be left out when
exactly one of cluster/local is set (then it equals that one); ``only_remote`` marks cases where
``has_any`` is true although no endpoint is reachable from this node.
"""

from __future__ import annotations

import pytest

from svcnet.proxy.model import EndpointInfo, ServicePortInfo, ServicePortName, categorize_endpoints

ZONE = "topology.kubernetes.io/zone"


def ep(
    endpoint: str,
    *,
    zone_hints: set[str] | None = None,
    ready: bool = False,
    serving: bool = False,
    terminating: bool = False,
    is_local: bool = False,
) -> EndpointInfo:
    """An endpoint as upstream's ``&BaseEndpointInfo{...}`` literal writes it (unset = Go zero)."""
    ip, port = endpoint.rsplit(":", 1)
    return EndpointInfo(
        ip=ip,
        port=int(port),
        zone_hints=frozenset(zone_hints) if zone_hints is not None else None,
        ready=ready,
        serving=serving,
        terminating=terminating,
        is_local=is_local,
    )


def svc(
    *,
    internal_policy_local: bool = False,
    external_policy_local: bool = False,
    node_port: int = 0,
    traffic_distribution: str = "",
) -> ServicePortInfo:
    """A service port as upstream's ``&BaseServicePortInfo{...}`` literal writes it."""
    return ServicePortInfo(
        name=ServicePortName("ns1", "svc1", "p80", "TCP"),
        cluster_ip="10.96.0.1",
        port=80,
        protocol="TCP",
        internal_policy_local=internal_policy_local,
        external_policy_local=external_policy_local,
        node_port=node_port,
        traffic_distribution=traffic_distribution,
    )


def case(
    name: str,
    *,
    service: ServicePortInfo,
    endpoints: list[EndpointInfo],
    cluster: set[str] | None,
    local: set[str] | None,
    all: set[str] | None = None,  # noqa: A002 - upstream's field name
    only_remote: bool = False,
    node_labels: dict[str, str] | None = None,
    marks: tuple = (),
):  # type: ignore[no-untyped-def]
    return pytest.param(node_labels or {}, service, endpoints, cluster, local, all, only_remote, id=name, marks=marks)


ZONE_A = {ZONE: "zone-a"}
# Four ready endpoints hinted a, b, c, a: the shape most hint cases share.
HINTED_ABCA = [
    ep("10.1.2.3:80", zone_hints={"zone-a"}, ready=True),
    ep("10.1.2.4:80", zone_hints={"zone-b"}, ready=True),
    ep("10.1.2.5:80", zone_hints={"zone-c"}, ready=True),
    ep("10.1.2.6:80", zone_hints={"zone-a"}, ready=True),
]
ALL_ABCA = {"10.1.2.3:80", "10.1.2.4:80", "10.1.2.5:80", "10.1.2.6:80"}
PTE_GATE_GONE = pytest.mark.skip(
    reason="ProxyTerminatingEndpoints went GA and its gate was removed; svcnet always falls back "
    "to serving+terminating endpoints, so the gate-disabled expectation no longer exists"
)

# Ported from pkg/proxy/topology_test.go::TestCategorizeEndpoints (kubernetes/kubernetes).
CASES = [
    # --- newer table (kubernetes/kubernetes@6c039d9), in upstream order ---
    case(
        "should use topology since all endpoints have hints, node has a zone label and and there are endpoints for the node's zone",
        node_labels=ZONE_A,
        service=svc(traffic_distribution="PreferClose"),
        endpoints=HINTED_ABCA,
        cluster={"10.1.2.3:80", "10.1.2.6:80"},
        local=None,
    ),
    case(
        "externalTrafficPolicy: Local, topology ignored for Local endpoints",
        node_labels=ZONE_A,
        service=svc(external_policy_local=True, node_port=8080, traffic_distribution="PreferClose"),
        endpoints=[
            ep("10.1.2.3:80", zone_hints={"zone-a"}, ready=True, is_local=True),
            ep("10.1.2.4:80", zone_hints={"zone-b"}, ready=True, is_local=True),
            ep("10.1.2.5:80", zone_hints={"zone-c"}, ready=True),
            ep("10.1.2.6:80", zone_hints={"zone-a"}, ready=True),
        ],
        cluster={"10.1.2.3:80", "10.1.2.6:80"},
        local={"10.1.2.3:80", "10.1.2.4:80"},
        all={"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"},
    ),
    case(
        "internalTrafficPolicy: Local, topology ignored for Local endpoints",
        node_labels=ZONE_A,
        service=svc(internal_policy_local=True, node_port=8080, traffic_distribution="PreferClose"),
        endpoints=[
            ep("10.1.2.3:80", zone_hints={"zone-a"}, ready=True, is_local=True),
            ep("10.1.2.4:80", zone_hints={"zone-b"}, ready=True, is_local=True),
            ep("10.1.2.5:80", zone_hints={"zone-c"}, ready=True),
            ep("10.1.2.6:80", zone_hints={"zone-a"}, ready=True),
        ],
        cluster={"10.1.2.3:80", "10.1.2.6:80"},
        local={"10.1.2.3:80", "10.1.2.4:80"},
        all={"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"},
    ),
    case(
        "empty node labels",
        node_labels={},
        service=svc(traffic_distribution="PreferClose"),
        endpoints=[ep("10.1.2.3:80", zone_hints={"zone-a"}, ready=True)],
        cluster={"10.1.2.3:80"},
        local=None,
    ),
    case(
        "empty zone label",
        node_labels={ZONE: ""},
        service=svc(traffic_distribution="PreferClose"),
        endpoints=[ep("10.1.2.3:80", zone_hints={"zone-a"}, ready=True)],
        cluster={"10.1.2.3:80"},
        local=None,
    ),
    case(
        "node in different zone, no endpoint filtering",
        node_labels={ZONE: "zone-b"},
        service=svc(traffic_distribution="PreferClose"),
        endpoints=[ep("10.1.2.3:80", zone_hints={"zone-a"}, ready=True)],
        cluster={"10.1.2.3:80"},
        local=None,
    ),
    case(
        "unready endpoint",
        node_labels=ZONE_A,
        service=svc(traffic_distribution="PreferClose"),
        endpoints=[
            ep("10.1.2.3:80", zone_hints={"zone-a"}, ready=True),
            ep("10.1.2.4:80", zone_hints={"zone-b"}, ready=True),
            ep("10.1.2.5:80", zone_hints={"zone-c"}, ready=True),
            ep("10.1.2.6:80", zone_hints={"zone-a"}, ready=False),
        ],
        cluster={"10.1.2.3:80"},
        local=None,
    ),
    case(
        "only unready endpoints in same zone (should not filter)",
        node_labels=ZONE_A,
        service=svc(traffic_distribution="PreferClose"),
        endpoints=[
            ep("10.1.2.3:80", zone_hints={"zone-a"}, ready=False),
            ep("10.1.2.4:80", zone_hints={"zone-b"}, ready=True),
            ep("10.1.2.5:80", zone_hints={"zone-c"}, ready=True),
            ep("10.1.2.6:80", zone_hints={"zone-a"}, ready=False),
        ],
        cluster={"10.1.2.4:80", "10.1.2.5:80"},
        local=None,
    ),
    case(
        "missing hints, no filtering applied",
        node_labels=ZONE_A,
        service=svc(traffic_distribution="PreferClose"),
        endpoints=[
            ep("10.1.2.3:80", zone_hints={"zone-a"}, ready=True),
            ep("10.1.2.4:80", zone_hints={"zone-b"}, ready=True),
            ep("10.1.2.5:80", zone_hints=None, ready=True),
            ep("10.1.2.6:80", zone_hints={"zone-a"}, ready=True),
        ],
        cluster=ALL_ABCA,
        local=None,
    ),
    case(
        "multiple hints per endpoint, filtering includes any endpoint with zone included",
        node_labels={ZONE: "zone-c"},
        service=svc(traffic_distribution="PreferClose"),
        endpoints=[
            ep("10.1.2.3:80", zone_hints={"zone-a", "zone-b", "zone-c"}, ready=True),
            ep("10.1.2.4:80", zone_hints={"zone-b", "zone-c"}, ready=True),
            ep("10.1.2.5:80", zone_hints={"zone-b", "zone-d"}, ready=True),
            ep("10.1.2.6:80", zone_hints={"zone-c"}, ready=True),
        ],
        cluster={"10.1.2.3:80", "10.1.2.4:80", "10.1.2.6:80"},
        local=None,
    ),
    case(
        "conflicting topology and localness require merging allEndpoints",
        node_labels=ZONE_A,
        service=svc(external_policy_local=True, node_port=8080, traffic_distribution="PreferClose"),
        endpoints=[
            ep("10.0.0.0:80", zone_hints={"zone-a"}, ready=True, is_local=True),
            ep("10.0.0.1:80", zone_hints={"zone-b"}, ready=True, is_local=True),
            ep("10.0.0.2:80", zone_hints={"zone-a"}, ready=True, is_local=False),
            ep("10.0.0.3:80", zone_hints={"zone-b"}, ready=True, is_local=False),
        ],
        cluster={"10.0.0.0:80", "10.0.0.2:80"},
        local={"10.0.0.0:80", "10.0.0.1:80"},
        all={"10.0.0.0:80", "10.0.0.1:80", "10.0.0.2:80"},
    ),
    case(
        "internalTrafficPolicy: Local, with empty endpoints",
        service=svc(internal_policy_local=True),
        endpoints=[],
        cluster=None,
        local=set(),
    ),
    case(
        "internalTrafficPolicy: Local, but all endpoints are remote",
        service=svc(internal_policy_local=True),
        endpoints=[ep("10.0.0.0:80", ready=True), ep("10.0.0.1:80", ready=True)],
        cluster=None,
        local=set(),
        only_remote=True,
    ),
    case(
        "internalTrafficPolicy: Local, all endpoints are local",
        service=svc(internal_policy_local=True),
        endpoints=[ep("10.0.0.0:80", ready=True, is_local=True), ep("10.0.0.1:80", ready=True, is_local=True)],
        cluster=None,
        local={"10.0.0.0:80", "10.0.0.1:80"},
    ),
    case(
        "internalTrafficPolicy: Local, some endpoints are local",
        service=svc(internal_policy_local=True),
        endpoints=[ep("10.0.0.0:80", ready=True, is_local=True), ep("10.0.0.1:80", ready=True)],
        cluster=None,
        local={"10.0.0.0:80"},
    ),
    case(
        "Cluster traffic policy, endpoints not Ready",
        service=svc(),
        endpoints=[ep("10.0.0.0:80"), ep("10.0.0.1:80")],
        cluster=set(),
        local=None,
    ),
    case(
        "Cluster traffic policy, some endpoints are Ready",
        service=svc(),
        endpoints=[ep("10.0.0.0:80"), ep("10.0.0.1:80", ready=True)],
        cluster={"10.0.0.1:80"},
        local=None,
    ),
    case(
        "Cluster traffic policy, all endpoints are terminating",
        service=svc(),
        endpoints=[
            ep("10.0.0.0:80", serving=True, terminating=True, is_local=True),
            ep("10.0.0.1:80", serving=True, terminating=True),
        ],
        cluster={"10.0.0.0:80", "10.0.0.1:80"},
        local=None,
    ),
    case(
        "iTP: Local, eTP: Cluster, some endpoints local",
        service=svc(internal_policy_local=True, node_port=8080),
        endpoints=[ep("10.0.0.0:80", ready=True, is_local=True), ep("10.0.0.1:80", ready=True)],
        cluster={"10.0.0.0:80", "10.0.0.1:80"},
        local={"10.0.0.0:80"},
        all={"10.0.0.0:80", "10.0.0.1:80"},
    ),
    case(
        "iTP: Cluster, eTP: Local, some endpoints local",
        service=svc(external_policy_local=True, node_port=8080),
        endpoints=[ep("10.0.0.0:80", ready=True, is_local=True), ep("10.0.0.1:80", ready=True)],
        cluster={"10.0.0.0:80", "10.0.0.1:80"},
        local={"10.0.0.0:80"},
        all={"10.0.0.0:80", "10.0.0.1:80"},
    ),
    case(
        "iTP: Local, eTP: Local, some endpoints local",
        service=svc(internal_policy_local=True, external_policy_local=True, node_port=8080),
        endpoints=[ep("10.0.0.0:80", ready=True, is_local=True), ep("10.0.0.1:80", ready=True)],
        cluster={"10.0.0.0:80", "10.0.0.1:80"},
        local={"10.0.0.0:80"},
        all={"10.0.0.0:80", "10.0.0.1:80"},
    ),
    case(
        "iTP: Local, eTP: Local, all endpoints remote",
        service=svc(internal_policy_local=True, external_policy_local=True, node_port=8080),
        endpoints=[ep("10.0.0.0:80", ready=True), ep("10.0.0.1:80", ready=True)],
        cluster={"10.0.0.0:80", "10.0.0.1:80"},
        local=set(),
        all={"10.0.0.0:80", "10.0.0.1:80"},
    ),
    case(
        "iTP: Local, eTP: Local, all endpoints remote and terminating",
        service=svc(internal_policy_local=True, external_policy_local=True, node_port=8080),
        endpoints=[ep("10.0.0.0:80", serving=True, terminating=True), ep("10.0.0.1:80", serving=True, terminating=True)],
        cluster={"10.0.0.0:80", "10.0.0.1:80"},
        local=set(),
        all={"10.0.0.0:80", "10.0.0.1:80"},
        only_remote=True,
    ),
    case(
        "iTP: Cluster, eTP: Local, with terminating endpoints",
        service=svc(external_policy_local=True, node_port=8080),
        endpoints=[
            ep("10.0.0.0:80", ready=True),
            ep("10.0.0.1:80", serving=False, is_local=True),
            ep("10.0.0.2:80", serving=True, terminating=True, is_local=True),
            ep("10.0.0.3:80", serving=True, terminating=True),
        ],
        cluster={"10.0.0.0:80"},
        local={"10.0.0.2:80"},
        all={"10.0.0.0:80", "10.0.0.2:80"},
    ),
    case(
        "externalTrafficPolicy ignored if not externally accessible",
        service=svc(external_policy_local=True),
        endpoints=[ep("10.0.0.0:80", ready=True), ep("10.0.0.1:80", ready=True, is_local=True)],
        cluster={"10.0.0.0:80", "10.0.0.1:80"},
        local=None,
        all={"10.0.0.0:80", "10.0.0.1:80"},
    ),
    case(
        "no cluster endpoints for iTP:Local internal-only service",
        service=svc(internal_policy_local=True),
        endpoints=[ep("10.0.0.0:80", ready=True), ep("10.0.0.1:80", ready=True, is_local=True)],
        cluster=None,
        local={"10.0.0.1:80"},
        all={"10.0.0.1:80"},
    ),
    # --- older table (kubernetes/kubernetes@0275699): only names the newer table lacks ---
    case(
        "hints enabled, hints annotation == auto",
        node_labels=ZONE_A,
        service=svc(traffic_distribution="PreferClose"),  # annotation "auto"
        endpoints=HINTED_ABCA,
        cluster={"10.1.2.3:80", "10.1.2.6:80"},
        local=None,
    ),
    case(
        "hints, hints annotation == disabled, hints ignored",
        node_labels=ZONE_A,
        service=svc(traffic_distribution=""),  # annotation "disabled"
        endpoints=HINTED_ABCA,
        cluster=ALL_ABCA,
        local=None,
    ),
    case(
        "hints, hints annotation == aUto (wrong capitalization), hints ignored",
        node_labels=ZONE_A,
        service=svc(traffic_distribution="preferclose"),  # not an accepted spelling
        endpoints=HINTED_ABCA,
        cluster=ALL_ABCA,
        local=None,
    ),
    case(
        "hints, hints annotation empty, hints ignored",
        node_labels=ZONE_A,
        service=svc(),  # no annotation at all
        endpoints=HINTED_ABCA,
        cluster=ALL_ABCA,
        local=None,
    ),
    case(
        "normal endpoint filtering, auto annotation",
        node_labels=ZONE_A,
        service=svc(traffic_distribution="PreferClose"),  # annotation "auto"
        endpoints=HINTED_ABCA,
        cluster={"10.1.2.3:80", "10.1.2.6:80"},
        local=None,
    ),
    case(
        "normal endpoint filtering, Auto annotation",
        node_labels=ZONE_A,
        service=svc(traffic_distribution="PreferSameZone"),  # annotation "Auto": the other accepted spelling
        endpoints=HINTED_ABCA,
        cluster={"10.1.2.3:80", "10.1.2.6:80"},
        local=None,
    ),
    case(
        "hintsAnnotation empty, no filtering applied",
        node_labels=ZONE_A,
        service=svc(traffic_distribution=""),  # annotation ""
        endpoints=HINTED_ABCA,
        cluster=ALL_ABCA,
        local=None,
    ),
    case(
        "hintsAnnotation disabled, no filtering applied",
        node_labels=ZONE_A,
        service=svc(traffic_distribution=""),  # annotation "disabled"
        endpoints=HINTED_ABCA,
        cluster=ALL_ABCA,
        local=None,
    ),
    case(
        "Cluster traffic policy, PTE enabled, all endpoints are terminating",
        service=svc(),
        endpoints=[
            ep("10.0.0.0:80", serving=True, terminating=True, is_local=True),
            ep("10.0.0.1:80", serving=True, terminating=True),
        ],
        cluster={"10.0.0.0:80", "10.0.0.1:80"},
        local=None,
    ),
    case(
        "Cluster traffic policy, PTE disabled, all endpoints are terminating",
        service=svc(),
        endpoints=[
            ep("10.0.0.0:80", serving=True, terminating=True, is_local=True),
            ep("10.0.0.1:80", serving=True, terminating=True),
        ],
        cluster=set(),
        local=None,
        marks=(PTE_GATE_GONE,),
    ),
    case(
        "iTP: Local, eTP: Local, PTE disabled, all endpoints remote and terminating",
        service=svc(internal_policy_local=True, external_policy_local=True, node_port=8080),
        endpoints=[ep("10.0.0.0:80", serving=True, terminating=True), ep("10.0.0.1:80", serving=True, terminating=True)],
        cluster=set(),
        local=set(),
        all=set(),
        marks=(PTE_GATE_GONE,),
    ),
    case(
        "iTP: Local, eTP: Local, PTE enabled, all endpoints remote and terminating",
        service=svc(internal_policy_local=True, external_policy_local=True, node_port=8080),
        endpoints=[ep("10.0.0.0:80", serving=True, terminating=True), ep("10.0.0.1:80", serving=True, terminating=True)],
        cluster={"10.0.0.0:80", "10.0.0.1:80"},
        local=set(),
        all={"10.0.0.0:80", "10.0.0.1:80"},
        only_remote=True,
    ),
    case(
        "iTP: Cluster, eTP: Local, PTE disabled, with terminating endpoints",
        service=svc(external_policy_local=True, node_port=8080),
        endpoints=[
            ep("10.0.0.0:80", ready=True),
            ep("10.0.0.1:80", serving=False, is_local=True),
            ep("10.0.0.2:80", serving=True, terminating=True, is_local=True),
            ep("10.0.0.3:80", serving=True, terminating=True),
        ],
        cluster={"10.0.0.0:80"},
        local=set(),
        all={"10.0.0.0:80"},
        marks=(PTE_GATE_GONE,),
    ),
    case(
        "iTP: Cluster, eTP: Local, PTE enabled, with terminating endpoints",
        service=svc(external_policy_local=True, node_port=8080),
        endpoints=[
            ep("10.0.0.0:80", ready=True),
            ep("10.0.0.1:80", serving=False, is_local=True),
            ep("10.0.0.2:80", serving=True, terminating=True, is_local=True),
            ep("10.0.0.3:80", serving=True, terminating=True),
        ],
        cluster={"10.0.0.0:80"},
        local={"10.0.0.2:80"},
        all={"10.0.0.0:80", "10.0.0.2:80"},
    ),
]


def _strs(eps: tuple[EndpointInfo, ...] | None) -> set[str] | None:
    return None if eps is None else {str(e) for e in eps}


@pytest.mark.parametrize("node_labels, service, endpoints, cluster, local, all_, only_remote", CASES)
def test_categorize_endpoints_upstream(node_labels, service, endpoints, cluster, local, all_, only_remote):  # type: ignore[no-untyped-def]
    got = categorize_endpoints(endpoints, service, node_labels)
    assert _strs(got.cluster) == cluster
    assert _strs(got.local) == local
    # upstream's rule for the expected allEndpoints
    if cluster is not None and local is None:
        expected_all = cluster
    elif local is not None and cluster is None:
        expected_all = local
    else:
        expected_all = all_ or set()
    assert {str(e) for e in got.all_reachable} == expected_all
    # all_reachable never repeats an endpoint (upstream merges through a map keyed by ip:port)
    assert len(got.all_reachable) == len(expected_all)
    assert got.has_any == (bool(expected_all) or only_remote)


# --- svcnet's own cases -------------------------------------------------------------------


def test_categorize_endpoints_empty_zone_hint_set_counts_as_missing():
    """An endpoint whose hint set is empty disables topology, like a missing one: upstream tests
    ``ZoneHints().Len() == 0`` (topology.go). Before the fix svcnet treated ``frozenset()`` as
    "hinted for no zone" and dropped the endpoint from the cluster set."""
    endpoints = [
        ep("10.1.2.3:80", zone_hints={"zone-a"}, ready=True),
        ep("10.1.2.4:80", zone_hints=set(), ready=True),
    ]
    got = categorize_endpoints(endpoints, svc(traffic_distribution="PreferClose"), ZONE_A)
    assert _strs(got.cluster) == {"10.1.2.3:80", "10.1.2.4:80"}


def test_categorize_endpoints_topology_falls_back_to_terminating_without_zone_filter():
    """With no ready endpoint anywhere, the serving+terminating fallback ignores hints (KEP-1669:
    a best effort not to drop connections)."""
    endpoints = [
        ep("10.0.0.1:80", zone_hints={"zone-b"}, serving=True, terminating=True),
        ep("10.0.0.2:80", zone_hints={"zone-a"}, serving=True, terminating=True),
    ]
    got = categorize_endpoints(endpoints, svc(traffic_distribution="PreferClose"), ZONE_A)
    assert _strs(got.cluster) == {"10.0.0.1:80", "10.0.0.2:80"}
    assert got.has_any


def test_categorize_endpoints_serving_but_not_terminating_is_never_used():
    """``serving`` without ``terminating`` (a not-ready pod) is not a fallback candidate."""
    got = categorize_endpoints([ep("10.0.0.1:80", serving=True)], svc())
    assert got.cluster == ()
    assert not got.has_any


def test_categorize_endpoints_all_reachable_sorted_when_merged():
    """When cluster and local sets have to be merged, the union comes back sorted by ``ip:port``
    (upstream's map order is random; svcnet fixes one so renders are stable)."""
    endpoints = [
        ep("10.0.0.10:80", zone_hints={"zone-b"}, ready=True, is_local=True),
        ep("10.0.0.2:80", zone_hints={"zone-a"}, ready=True),
        ep("10.0.0.9:80", zone_hints={"zone-b"}, ready=True),
    ]
    got = categorize_endpoints(endpoints, svc(external_policy_local=True, node_port=30080, traffic_distribution="PreferClose"), ZONE_A)
    assert [str(e) for e in got.all_reachable] == ["10.0.0.10:80", "10.0.0.2:80"]
