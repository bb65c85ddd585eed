"""Table tests of the legacy Endpoints controller's pure core (svcnet.controllers.endpoints).

Upstream: pkg/controller/endpoint/endpoints_controller.go (syncService, truncateEndpoints,
capacityAnnotationSetCorrectly), pkg/api/v1/endpoints/util.go (RepackSubsets); vector 7.26.
"""

from __future__ import annotations

import copy

import pytest

from svcnet.controllers import endpoints as epc
from svcnet.controllers.endpoints import desired_endpoints, desired_subsets, plan_endpoints, repack_subsets, truncate_subsets

NOW = "2024-05-01T10:00:00Z"
TRIGGER = {"endpoints.kubernetes.io/last-change-trigger-time": NOW}


def make_service(name="web", *, ns="default", selector=None, ports=None, cluster_ip="10.96.0.10", families=("IPv4",),
                 pnra=False, type_="ClusterIP", labels=None) -> dict:
    spec = {
        "type": type_,
        "selector": {"app": "web"} if selector is None else selector,
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}] if ports is None else ports,
        "ipFamilies": list(families),
    }
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    if pnra:
        spec["publishNotReadyAddresses"] = True
    if selector is False:
        del spec["selector"]
    md = {"name": name, "namespace": ns, "uid": "svc-uid"}
    if labels is not None:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "Service", "metadata": md, "spec": spec}


def make_pod(name, *, ip="10.244.1.5", ips=None, node="n1", ready=True, phase="Running", deleting=False,
             ports=(("http", 8080, "TCP"),), labels=None, hostname=None, subdomain=None) -> dict:
    spec: dict = {"nodeName": node, "containers": [
        {"name": "app", "image": "img", "ports": [{"name": n, "containerPort": p, "protocol": pr} for n, p, pr in ports]}]}
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    all_ips = list(ips) if ips is not None else [ip]
    status = {"phase": phase, "podIP": all_ips[0], "podIPs": [{"ip": i} for i in all_ips],
              "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    md = {"name": name, "namespace": "default", "uid": f"{name}-uid", "labels": {"app": "web"} if labels is None else labels}
    if deleting:
        md["deletionTimestamp"] = NOW
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status}


def addr(name, ip, node="n1", hostname=None) -> dict:
    a = {"ip": ip, "nodeName": node, "targetRef": {"kind": "Pod", "namespace": "default", "name": name, "uid": f"{name}-uid"}}
    if hostname:
        a["hostname"] = hostname
    return a


HTTP = {"name": "http", "port": 8080, "protocol": "TCP"}


def test_desired_endpoints_vector_7_26():
    # reference/service-api.md 7.26: B's named port does not resolve, so B is absent; C is done
    pods = [
        make_pod("A", ip="10.244.1.5", node="n1"),
        make_pod("B", ip="10.244.2.7", node="n2", ready=False, ports=(("web", 8080, "TCP"),)),
        make_pod("C", ip="10.244.3.9", phase="Succeeded"),
    ]
    assert desired_endpoints(make_service(), pods) == {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "web", "namespace": "default"},
        "subsets": [{"addresses": [addr("A", "10.244.1.5")], "ports": [HTTP]}],
    }


READY_CASES = [
    # (Ready, terminating, publishNotReadyAddresses) -> where the address goes (None: left out)
    pytest.param(True, False, False, "addresses", id="ready"),
    pytest.param(False, False, False, "notReadyAddresses", id="not-ready"),
    pytest.param(True, True, False, None, id="terminating-left-out"),
    pytest.param(False, False, True, "addresses", id="not-ready-pnra"),
    pytest.param(True, True, True, "addresses", id="terminating-pnra"),
    pytest.param(False, True, True, "addresses", id="not-ready-terminating-pnra"),
]


@pytest.mark.parametrize("ready,deleting,pnra,field", READY_CASES)
def test_desired_subsets_readiness(ready, deleting, pnra, field):
    subsets = desired_subsets(make_service(pnra=pnra), [make_pod("a", ready=ready, deleting=deleting)])
    if field is None:
        assert subsets == []
    else:
        assert subsets == [{field: [addr("a", "10.244.1.5")], "ports": [HTTP]}]


def test_desired_subsets_ready_and_not_ready_share_a_subset():
    pods = [make_pod("b", ip="10.244.1.7"), make_pod("a", ip="10.244.1.6", ready=False), make_pod("c", ip="10.244.1.10")]
    assert desired_subsets(make_service(), pods) == [{
        "addresses": [addr("c", "10.244.1.10"), addr("b", "10.244.1.7")],  # sorted by IP text, as upstream
        "notReadyAddresses": [addr("a", "10.244.1.6")],
        "ports": [HTTP],
    }]


TWO_PORTS = [
    {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
    {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"},
]
METRICS = {"name": "metrics", "port": 9100, "protocol": "TCP"}


def test_desired_subsets_unresolved_port_drops_pod_from_that_port_only():
    pods = [
        make_pod("a", ip="10.244.1.5", ports=(("http", 8080, "TCP"), ("metrics", 9100, "TCP"))),
        make_pod("b", ip="10.244.1.6", ports=(("http", 8080, "TCP"),)),
    ]
    assert desired_subsets(make_service(ports=TWO_PORTS), pods) == [
        {"addresses": [addr("a", "10.244.1.5"), addr("b", "10.244.1.6")], "ports": [HTTP]},
        {"addresses": [addr("a", "10.244.1.5")], "ports": [METRICS]},
    ]


def test_desired_subsets_ports_with_same_addresses_share_a_subset():
    pods = [make_pod("a", ports=(("http", 8080, "TCP"), ("metrics", 9100, "TCP")))]
    assert desired_subsets(make_service(ports=TWO_PORTS), pods) == [
        {"addresses": [addr("a", "10.244.1.5")], "ports": [HTTP, METRICS]},
    ]


def test_desired_subsets_unnamed_port_omits_name():
    svc = make_service(ports=[{"port": 80, "targetPort": 8080, "protocol": "TCP"}])
    assert desired_subsets(svc, [make_pod("a")])[0]["ports"] == [{"port": 8080, "protocol": "TCP"}]


def test_repack_subsets_not_ready_trumps_ready():
    a = addr("a", "10.0.0.1")
    subsets = [{"addresses": [a], "ports": [HTTP]}, {"notReadyAddresses": [a], "ports": [HTTP]}]
    assert repack_subsets(subsets) == [{"notReadyAddresses": [a], "ports": [HTTP]}]
    assert repack_subsets(list(reversed(subsets))) == [{"notReadyAddresses": [a], "ports": [HTTP]}]


def test_repack_subsets_dedups_and_keeps_portless():
    a = addr("a", "10.0.0.1")
    assert repack_subsets([{"addresses": [a]}, {"addresses": [a], "ports": []}]) == [{"addresses": [a]}]


def test_desired_subsets_headless():
    svc = make_service(cluster_ip="None")
    pods = [make_pod("a", hostname="a-host", subdomain="web"), make_pod("b", ip="10.244.1.6", hostname="b", subdomain="x")]
    assert desired_subsets(svc, pods) == [
        {"addresses": [addr("a", "10.244.1.5", hostname="a-host"), addr("b", "10.244.1.6")], "ports": [HTTP]},
    ]
    assert desired_endpoints(svc, pods)["metadata"]["labels"] == {"service.kubernetes.io/headless": ""}


def test_desired_subsets_headless_without_ports():
    assert desired_subsets(make_service(cluster_ip="None", ports=[]), [make_pod("a")]) == [{"addresses": [addr("a", "10.244.1.5")]}]
    # a Service with a ClusterIP and no ports gets nothing (validation forbids it anyway)
    assert desired_subsets(make_service(ports=[]), [make_pod("a")]) == []


FAMILY_CASES = [
    pytest.param(("IPv6", "IPv4"), "fd00::5", id="primary-v6"),
    pytest.param(("IPv4", "IPv6"), "10.244.1.5", id="primary-v4"),
]


@pytest.mark.parametrize("families,ip", FAMILY_CASES)
def test_desired_subsets_primary_family(families, ip):
    pods = [make_pod("a", ips=["10.244.1.5", "fd00::5"])]
    assert desired_subsets(make_service(families=families), pods)[0]["addresses"][0]["ip"] == ip


def test_desired_subsets_pod_without_primary_family_ip_left_out():
    assert desired_subsets(make_service(families=("IPv6",)), [make_pod("a")]) == []


def _many(n, ready=True, start=0):
    return [make_pod(f"p{i:05d}", ip=f"10.{(i // 62500) % 250}.{(i // 250) % 250}.{i % 250 + 1}", ready=ready) for i in range(start, start + n)]


def test_truncate_ready_over_capacity():
    ep = desired_endpoints(make_service(), _many(1100) + _many(20, ready=False, start=5000))
    (s,) = ep["subsets"]
    assert len(s["addresses"]) == 1000 and "notReadyAddresses" not in s
    assert ep["metadata"]["annotations"] == {"endpoints.kubernetes.io/over-capacity": "truncated"}


def test_truncate_not_ready_first():
    ep = desired_endpoints(make_service(), _many(900) + _many(300, ready=False, start=5000))
    (s,) = ep["subsets"]
    assert (len(s["addresses"]), len(s["notReadyAddresses"])) == (900, 100)


def test_truncate_proportional_per_subset():
    # 2 subsets of 800 and 400 ready: ceil(800/1200*1000)=667, then what is left: 333
    subsets = [{"addresses": [{"ip": f"10.0.{i // 250}.{i % 250}"} for i in range(800)], "ports": [HTTP]},
               {"addresses": [{"ip": f"10.1.{i // 250}.{i % 250}"} for i in range(400)], "ports": [METRICS]}]
    assert truncate_subsets(subsets) is True
    assert [len(s["addresses"]) for s in subsets] == [667, 333]
    assert truncate_subsets([{"addresses": [{"ip": "10.0.0.1"}]}]) is False


# ---------------------------------------------------------------------------------------------
# plan_endpoints: when to write what


def _stored(obj):
    obj = copy.deepcopy(obj)
    obj["metadata"]["resourceVersion"] = "7"
    return obj


def test_plan_endpoints_create_then_no_change():
    svc = make_service(labels={"team": "x"})
    verb, obj = plan_endpoints(svc, [make_pod("a")], None, now=NOW)
    assert verb == "create"
    assert obj["metadata"] == {"name": "web", "namespace": "default", "labels": {"team": "x"}, "annotations": TRIGGER}
    assert plan_endpoints(svc, [make_pod("a")], _stored(obj), now="2024-05-01T11:00:00Z") is None


CHANGE_CASES = [
    pytest.param(lambda: (make_service(), [make_pod("a", ready=False)]), id="readiness"),
    pytest.param(lambda: (make_service(), []), id="pod-gone"),
    pytest.param(lambda: (make_service(labels={"team": "y"}), [make_pod("a")]), id="service-labels"),
]


@pytest.mark.parametrize("change", CHANGE_CASES)
def test_plan_endpoints_update_keeps_resource_version(change):
    _, obj = plan_endpoints(make_service(), [make_pod("a")], None, now=NOW)
    current = _stored(obj)
    svc, pods = change()
    verb, new = plan_endpoints(svc, pods, current, now=None)
    assert verb == "update"
    assert new["metadata"]["resourceVersion"] == "7"
    assert "annotations" not in new["metadata"]  # no trigger time: the annotation is removed
    assert new.get("subsets", []) == desired_subsets(svc, pods)


def test_plan_endpoints_headless_label_does_not_cause_update():
    svc = make_service(cluster_ip="None")
    _, obj = plan_endpoints(svc, [make_pod("a")], None)
    assert plan_endpoints(svc, [make_pod("a")], _stored(obj)) is None


def test_plan_endpoints_ignores_target_ref_resource_version():
    _, obj = plan_endpoints(make_service(), [make_pod("a")], None)
    current = _stored(obj)
    current["subsets"][0]["addresses"][0]["targetRef"]["resourceVersion"] = "123"
    assert plan_endpoints(make_service(), [make_pod("a")], current) is None


def test_plan_endpoints_stale_over_capacity_annotation_removed():
    _, obj = plan_endpoints(make_service(), [make_pod("a")], None)
    current = _stored(obj)
    current["metadata"]["annotations"] = {"endpoints.kubernetes.io/over-capacity": "truncated", "keep": "me"}
    verb, new = plan_endpoints(make_service(), [make_pod("a")], current)
    assert verb == "update" and new["metadata"]["annotations"] == {"keep": "me"}


def test_plan_endpoints_over_capacity_rewritten_each_sync():
    # upstream compares untruncated subsets with the stored truncated ones
    pods = _many(1001)
    _, obj = plan_endpoints(make_service(), pods, None)
    assert plan_endpoints(make_service(), pods, _stored(obj))[0] == "update"


SKIP_CASES = [
    pytest.param(make_service(selector=False), id="selectorless"),
    pytest.param(make_service(selector={}), id="empty-selector"),
    pytest.param(make_service(type_="ExternalName", cluster_ip=None), id="external-name"),
]


@pytest.mark.parametrize("svc", SKIP_CASES)
def test_plan_endpoints_skipped_services(svc):
    user = {"metadata": {"name": "web", "namespace": "default", "resourceVersion": "3"}, "subsets": [{"addresses": [{"ip": "1.2.3.4"}]}]}
    assert plan_endpoints(svc, [make_pod("a")], user) is None
    assert desired_endpoints(svc, [make_pod("a")]) is None


def test_plan_endpoints_deleted_service_deletes_endpoints():
    current = {"metadata": {"name": "web", "namespace": "default", "resourceVersion": "3"}}
    assert plan_endpoints(None, [], current) == ("delete", current)
    assert plan_endpoints(None, [], None) is None


def test_endpoints_module_all_sorted():
    assert list(epc.__all__) == sorted(epc.__all__)
    for name in epc.__all__:
        assert hasattr(epc, name)
