"""Table tests of the pure EndpointSlice reconciler (svcnet.controllers.endpointslice_reconcile)
and its shared helpers (svcnet.controllers.endpointslice_util).

Upstream: staging/src/k8s.io/endpointslice/{reconciler.go,utils.go,util/controller_utils.go};
vector 7.26 of reference/service-api.md.
"""

from __future__ import annotations

import ast
import copy
import itertools
import pathlib
import random

import pytest

from svcnet.controllers import endpointslice_reconcile as rec
from svcnet.controllers import endpointslice_util as util
from svcnet.controllers.endpointslice_reconcile import Plan, endpoint_ports, pod_to_endpoint, reconcile

NOW = "2024-05-01T10:00:00Z"
MANAGED = {
    "kubernetes.io/service-name": "web",
    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
}
OWNER = {"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "svc-uid", "controller": True, "blockOwnerDeletion": True}


# ---------------------------------------------------------------------------------------------
# builders


def make_service(name="web", *, ns="default", uid="svc-uid", selector=None, ports=None, cluster_ip="10.96.0.10",
                 families=("IPv4",), pnra=False, type_="ClusterIP", labels=None, **spec_extra) -> dict:
    spec = {
        "type": type_,
        "selector": {"app": "web"} if selector is None else selector,
        "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}] if ports is None else ports,
        "ipFamilies": list(families),
        **spec_extra,
    }
    if cluster_ip is not None:
        spec["clusterIP"] = cluster_ip
    if pnra:
        spec["publishNotReadyAddresses"] = True
    if selector is False:
        del spec["selector"]
    md = {"name": name, "namespace": ns, "uid": uid, "creationTimestamp": "2024-05-01T09:00:00Z"}
    if labels:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "Service", "metadata": md, "spec": spec}


def make_pod(name, *, ns="default", labels=None, ip="10.244.1.5", ips=None, node="n1", ready=True, phase="Running",
             deleting=False, ports=(("http", 8080, "TCP"),), init_ports=None, init_restart="Always",
             hostname=None, subdomain=None) -> dict:
    containers = [{"name": "app", "image": "img", "ports": [{"name": n, "containerPort": p, "protocol": pr} for n, p, pr in ports]}]
    spec: dict = {"containers": containers}
    if node:
        spec["nodeName"] = node
    if init_ports:
        spec["initContainers"] = [{"name": "side", "image": "img", "restartPolicy": init_restart,
                                   "ports": [{"name": n, "containerPort": p, "protocol": pr} for n, p, pr in init_ports]}]
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    status: dict = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    all_ips = list(ips) if ips is not None else ([ip] if ip else [])
    if all_ips:
        status["podIP"] = all_ips[0]
        status["podIPs"] = [{"ip": i} for i in all_ips]
    md = {"name": name, "namespace": ns, "uid": f"{name}-uid", "labels": {"app": "web"} if labels is None else labels}
    if deleting:
        md["deletionTimestamp"] = "2024-05-01T10:05:00Z"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status}


def make_node(name, zone=None) -> dict:
    md: dict = {"name": name}
    if zone:
        md["labels"] = {"topology.kubernetes.io/zone": zone}
    return {"apiVersion": "v1", "kind": "Node", "metadata": md}


NODES = {"n1": make_node("n1", "z1"), "n2": make_node("n2", "z2"), "n3": make_node("n3")}


def ip_of(i: int) -> str:
    return f"10.244.{i // 250}.{i % 250 + 1}"


def many_pods(n: int, start: int = 0) -> list[dict]:
    return [make_pod(f"p{i:04d}", ip=ip_of(i)) for i in range(start, start + n)]


def ep(pod_name, ip, *, ready=True, serving=True, terminating=False, node="n1", zone="z1", hostname=None) -> dict:
    e = {
        "addresses": [ip],
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": {"kind": "Pod", "namespace": "default", "name": pod_name, "uid": f"{pod_name}-uid"},
    }
    if node:
        e["nodeName"] = node
    if zone:
        e["zone"] = zone
    if hostname:
        e["hostname"] = hostname
    return e


class FakeAPI:
    """Stores slices the way the API server does: names from generateName, a uid, and a new
    resourceVersion on every write. Counts writes so tests can assert "nothing rewritten"."""

    def __init__(self, slices=()):
        self.slices: dict[str, dict] = {s["metadata"]["name"]: copy.deepcopy(s) for s in slices}
        self.rv = 100
        self.names = itertools.count(1)
        self.writes: list[tuple[str, str]] = []

    def list(self) -> list[dict]:
        return [copy.deepcopy(s) for s in sorted(self.slices.values(), key=lambda s: s["metadata"]["name"])]

    def apply(self, plan: Plan) -> None:
        for obj in plan.create:
            obj = copy.deepcopy(obj)
            name = obj["metadata"]["generateName"] + f"{next(self.names):05d}"
            self.rv += 1
            obj["metadata"].update(name=name, uid=f"uid-{name}", resourceVersion=str(self.rv))
            self.slices[name] = obj
            self.writes.append(("create", name))
        for obj in plan.update:
            obj = copy.deepcopy(obj)
            name = obj["metadata"]["name"]
            assert name in self.slices, f"update of missing slice {name}"
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            obj["metadata"]["uid"] = self.slices[name]["metadata"]["uid"]
            self.slices[name] = obj
            self.writes.append(("update", name))
        for obj in plan.delete:
            del self.slices[obj["metadata"]["name"]]
            self.writes.append(("delete", obj["metadata"]["name"]))

    def sync(self, service, pods, nodes=NODES, **kw) -> Plan:
        plan = reconcile(service, pods, nodes, self.list(), now=NOW, **kw)
        self.apply(plan)
        return plan

    def sizes(self, address_type="IPv4") -> list[int]:
        return sorted((len(s["endpoints"]) for s in self.slices.values() if s["addressType"] == address_type), reverse=True)

    def endpoints(self) -> dict[str, dict]:
        return {e["targetRef"]["name"]: e for s in self.slices.values() for e in s["endpoints"]}


def slice_of(api: FakeAPI, pod_name: str) -> str:
    return next(n for n, s in api.slices.items() if any(e["targetRef"]["name"] == pod_name for e in s["endpoints"]))


# ---------------------------------------------------------------------------------------------
# vector 7.26


def test_reconcile_vector_7_26():
    # reference/service-api.md 7.26: A resolves `http`, B's container port is named `web`, C is done
    svc = make_service()
    pods = [
        make_pod("A", ip="10.244.1.5", node="n1"),
        make_pod("B", ip="10.244.2.7", node="n2", ready=False, ports=(("web", 8080, "TCP"),)),
        make_pod("C", ip="10.244.3.9", node="n1", phase="Succeeded"),
    ]
    nodes = {"n1": make_node("n1", "z1"), "n2": make_node("n2")}
    plan = reconcile(svc, pods, nodes, [], now=None)
    assert plan.update == () and plan.delete == () and plan.missing_nodes == ()
    meta = {"generateName": "web-", "namespace": "default", "labels": MANAGED, "ownerReferences": [OWNER]}
    b_ep = ep("B", "10.244.2.7", ready=False, serving=False, node="n2", zone=None)
    a_ep = ep("A", "10.244.1.5", node="n1", zone="z1")
    assert list(plan.create) == [
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta,
         "addressType": "IPv4", "ports": [], "endpoints": [b_ep]},
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta,
         "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}], "endpoints": [a_ep]},
    ]


# ---------------------------------------------------------------------------------------------
# conditions: ready / serving / terminating x publishNotReadyAddresses (podToEndpoint)

CONDITION_CASES = [
    # (pod Ready, deletionTimestamp set, publishNotReadyAddresses) -> (ready, serving, terminating)
    pytest.param(True, False, False, (True, True, False), id="ready"),
    pytest.param(False, False, False, (False, False, False), id="not-ready"),
    pytest.param(True, True, False, (False, True, True), id="ready-terminating"),
    pytest.param(False, True, False, (False, False, True), id="not-ready-terminating"),
    pytest.param(True, False, True, (True, True, False), id="ready-pnra"),
    pytest.param(False, False, True, (True, False, False), id="not-ready-pnra"),
    pytest.param(True, True, True, (True, True, True), id="ready-terminating-pnra"),
    pytest.param(False, True, True, (True, False, True), id="not-ready-terminating-pnra"),
]


@pytest.mark.parametrize("ready,deleting,pnra,expected", CONDITION_CASES)
def test_reconcile_conditions(ready, deleting, pnra, expected):
    plan = reconcile(make_service(pnra=pnra), [make_pod("a", ready=ready, deleting=deleting)], NODES, [], now=NOW)
    (slice_,) = plan.create
    (e,) = slice_["endpoints"]  # terminating pods are always included in slices
    assert (e["conditions"]["ready"], e["conditions"]["serving"], e["conditions"]["terminating"]) == expected


def test_pod_to_endpoint_ready_condition_missing_is_not_serving():
    pod = make_pod("a")
    pod["status"]["conditions"] = [{"type": "ContainersReady", "status": "True"}]
    assert pod_to_endpoint(pod, make_service(), NODES["n1"])["conditions"] == {"ready": False, "serving": False, "terminating": False}


EXCLUDED_CASES = [
    pytest.param(make_pod("a", phase="Succeeded"), id="succeeded"),
    pytest.param(make_pod("a", phase="Failed"), id="failed"),
    pytest.param(make_pod("a", ip=None), id="no-ip"),
    pytest.param(make_pod("a", labels={"app": "other"}), id="labels-do-not-match"),
    pytest.param(make_pod("a", ns="other"), id="other-namespace"),
]


@pytest.mark.parametrize("pod", EXCLUDED_CASES)
def test_reconcile_pod_left_out(pod):
    plan = reconcile(make_service(), [pod], NODES, [], now=NOW)
    (placeholder,) = plan.create
    assert placeholder["endpoints"] == [] and placeholder["ports"] == []


# ---------------------------------------------------------------------------------------------
# ports (getEndpointPorts / FindPort)

PORT_CASES = [
    # (service port, pod container ports, init-container ports (sidecar), expected slice ports)
    pytest.param({"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}, (("http", 8080, "TCP"),), None,
                 [{"name": "http", "port": 8080, "protocol": "TCP"}], id="named-resolved"),
    pytest.param({"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}, (("web", 8080, "TCP"),), None,
                 [], id="named-unresolved"),
    pytest.param({"name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP"}, (("dns", 5353, "TCP"),), None,
                 [], id="named-protocol-mismatch"),
    pytest.param({"name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP"}, (("dns", 5353, "TCP"), ("dns", 5354, "UDP")), None,
                 [{"name": "dns", "port": 5354, "protocol": "UDP"}], id="named-protocol-picks-match"),
    pytest.param({"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}, (), (("http", 9000, "TCP"),),
                 [{"name": "http", "port": 9000, "protocol": "TCP"}], id="named-in-sidecar"),
    pytest.param({"name": "http", "port": 80, "targetPort": 8443, "protocol": "TCP"}, (("web", 8080, "TCP"),), None,
                 [{"name": "http", "port": 8443, "protocol": "TCP"}], id="int-target-as-is"),
    pytest.param({"port": 80, "protocol": "TCP"}, (), None,
                 [{"name": "", "port": 80, "protocol": "TCP"}], id="unset-target-is-port"),
    pytest.param({"name": "h", "port": 80, "targetPort": "8080", "protocol": "TCP"}, (("h", 8080, "TCP"),), None,
                 [], id="numeric-string-is-a-name"),
    pytest.param({"name": "h2", "port": 80, "targetPort": 80, "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"}, (), None,
                 [{"name": "h2", "port": 80, "protocol": "TCP", "appProtocol": "kubernetes.io/h2c"}], id="app-protocol"),
]


@pytest.mark.parametrize("svc_port,pod_ports,init_ports,expected", PORT_CASES)
def test_endpoint_ports(svc_port, pod_ports, init_ports, expected):
    pod = make_pod("a", ports=pod_ports, init_ports=init_ports)
    assert endpoint_ports(make_service(ports=[svc_port]), pod) == expected


def test_find_port_ignores_non_sidecar_init_containers():
    pod = make_pod("a", ports=(), init_ports=(("http", 9000, "TCP"),), init_restart="OnFailure")
    assert util.find_port(pod, {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}) is None


def test_endpoint_ports_partial_resolution_keeps_the_pod():
    svc = make_service(ports=[
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"},
    ])
    assert endpoint_ports(svc, make_pod("a")) == [{"name": "http", "port": 8080, "protocol": "TCP"}]


def test_reconcile_unresolved_named_port_gets_its_own_slice():
    pods = [make_pod("a"), make_pod("b", ip="10.244.1.6", ports=(("other", 8080, "TCP"),))]
    plan = reconcile(make_service(), pods, NODES, [], now=NOW)
    by_ports = {tuple(p["port"] for p in s["ports"]): [e["targetRef"]["name"] for e in s["endpoints"]] for s in plan.create}
    assert by_ports == {(): ["b"], (8080,): ["a"]}


def test_reconcile_same_port_name_different_numbers_separate_slices():
    pods = [make_pod("a"), make_pod("b", ip="10.244.1.6", ports=(("http", 9090, "TCP"),)), make_pod("c", ip="10.244.1.7")]
    plan = reconcile(make_service(), pods, NODES, [], now=NOW)
    by_ports = {tuple(p["port"] for p in s["ports"]): [e["targetRef"]["name"] for e in s["endpoints"]] for s in plan.create}
    assert by_ports == {(8080,): ["a", "c"], (9090,): ["b"]}


def test_reconcile_target_port_change_reuses_slice_names():
    # all endpoints move to a new port list: create+delete pairs become updates (finalize)
    api = FakeAPI()
    api.sync(make_service(), many_pods(3))
    (name,) = api.slices
    svc = make_service(ports=[{"name": "http", "port": 80, "targetPort": 9999, "protocol": "TCP"}])
    plan = api.sync(svc, many_pods(3))
    assert (len(plan.create), len(plan.delete), [u["metadata"]["name"] for u in plan.update]) == (0, 0, [name])
    assert api.slices[name]["ports"] == [{"name": "http", "port": 9999, "protocol": "TCP"}]
    assert len(api.slices[name]["endpoints"]) == 3


# ---------------------------------------------------------------------------------------------
# size and packing (reconcileByPortMapping)


def test_reconcile_250_pods_make_three_slices():
    api = FakeAPI()
    plan = api.sync(make_service(), many_pods(250))
    assert [len(s["endpoints"]) for s in plan.create] == [100, 100, 50]
    assert api.sizes() == [100, 100, 50]
    # every pod exactly once
    assert sorted(api.endpoints()) == [f"p{i:04d}" for i in range(250)]


def test_reconcile_resync_writes_nothing():
    api = FakeAPI()
    api.sync(make_service(), many_pods(250))
    assert api.sync(make_service(), many_pods(250)).empty
    assert api.sync(make_service(), list(reversed(many_pods(250)))).empty


def test_reconcile_scale_down_updates_only_the_affected_slice():
    api = FakeAPI()
    pods = many_pods(250)
    api.sync(make_service(), pods)
    api.writes.clear()
    victim = slice_of(api, "p0000")
    gone = {n for n, e in api.endpoints().items() if slice_of(api, n) == victim}
    gone = set(sorted(gone)[:10])
    plan = api.sync(make_service(), [p for p in pods if p["metadata"]["name"] not in gone])
    assert api.writes == [("update", victim)]
    assert plan.update[0]["metadata"]["resourceVersion"]  # computed from the cached version
    assert api.sizes() == [100, 90, 50]


def test_reconcile_scale_up_fills_unchanged_slice_closest_to_full():
    api = FakeAPI()
    pods = many_pods(250)
    api.sync(make_service(), pods)
    full_slice = slice_of(api, "p0000")
    pods = [p for p in pods if p["metadata"]["name"] not in {f"p{i:04d}" for i in range(10)}]
    api.sync(make_service(), pods)  # that slice now holds 90
    api.writes.clear()
    # 5 new: the 90-slice ends closest to full (95) without overflowing; the 50-slice stays
    api.sync(make_service(), pods + many_pods(5, start=300))
    assert api.writes == [("update", full_slice)]
    assert api.sizes() == [100, 95, 50]


def test_reconcile_scale_up_fills_slices_being_updated_first():
    api = FakeAPI()
    pods = many_pods(250)
    api.sync(make_service(), pods)
    half = slice_of(api, "p0249")  # the slice with 50
    api.writes.clear()
    # one pod of the 50-slice goes, three come: the slice being updated anyway takes them
    pods = [p for p in pods if p["metadata"]["name"] != "p0249"] + many_pods(3, start=300)
    api.sync(make_service(), pods)
    assert api.writes == [("update", half)]
    assert api.sizes() == [100, 100, 52]


def test_reconcile_fill_up_updated_slices_fullest_first():
    api = FakeAPI()
    pods = many_pods(250)
    api.sync(make_service(), pods)
    s100 = slice_of(api, "p0000")
    s50 = slice_of(api, "p0249")
    # remove 2 from a 100-slice and 1 from the 50-slice, add 2: the fuller (98) is filled first
    drop = {"p0000", "p0001", "p0249"}
    pods = [p for p in pods if p["metadata"]["name"] not in drop] + many_pods(2, start=300)
    api.writes.clear()
    api.sync(make_service(), pods)
    assert sorted(api.writes) == sorted([("update", s100), ("update", s50)])
    assert len(api.slices[s100]["endpoints"]) == 100 and len(api.slices[s50]["endpoints"]) == 49


def test_reconcile_many_new_endpoints_make_new_slices_then_fill():
    api = FakeAPI()
    pods = many_pods(130)  # 100 + 30
    api.sync(make_service(), pods)
    api.writes.clear()
    # 120 new: >= max, so a new slice of 100; the remaining 20 fit the unchanged 30-slice
    api.sync(make_service(), pods + many_pods(120, start=500))
    kinds = sorted(w[0] for w in api.writes)
    assert kinds == ["create", "update"]
    assert api.sizes() == [100, 100, 50]


def test_reconcile_empty_slice_is_deleted():
    api = FakeAPI()
    pods = many_pods(130)
    api.sync(make_service(), pods)
    small = slice_of(api, "p0129")
    api.writes.clear()
    api.sync(make_service(), pods[:100])
    assert api.writes == [("delete", small)]
    assert api.sizes() == [100]


def test_reconcile_unchanged_slices_only_considered_below_max():
    # upstream quirk kept on purpose: with >= max endpoints left, step 3 creates a new slice
    # even though an empty (placeholder) slice of the same port list exists and stays
    svc = make_service(cluster_ip="None", ports=[])
    api = FakeAPI()
    api.sync(svc, [], max_endpoints_per_slice=3)
    (placeholder,) = api.slices
    api.writes.clear()
    api.sync(svc, many_pods(3), max_endpoints_per_slice=3)
    assert [w[0] for w in api.writes] == ["create"]
    assert api.sizes() == [3, 0] and placeholder in api.slices


def test_reconcile_max_endpoints_per_slice_option():
    api = FakeAPI()
    api.sync(make_service(), many_pods(7), max_endpoints_per_slice=3)
    assert api.sizes() == [3, 3, 1]


# ---------------------------------------------------------------------------------------------
# pods changing


def _one_pod_change(change):
    api = FakeAPI()
    api.sync(make_service(), [make_pod("a"), make_pod("b", ip="10.244.1.6")])
    (name,) = api.slices
    api.writes.clear()
    api.sync(make_service(), [change(), make_pod("b", ip="10.244.1.6")])
    return api, name


CHANGE_CASES = [
    pytest.param(lambda: make_pod("a", ready=False), ep("a", "10.244.1.5", ready=False, serving=False), id="readiness"),
    pytest.param(lambda: make_pod("a", ip="10.244.9.9"), ep("a", "10.244.9.9"), id="ip"),
    pytest.param(lambda: make_pod("a", node="n2"), ep("a", "10.244.1.5", node="n2", zone="z2"), id="node-and-zone"),
    pytest.param(lambda: make_pod("a", node="n3"), ep("a", "10.244.1.5", node="n3", zone=None), id="node-without-zone"),
    pytest.param(lambda: make_pod("a", deleting=True), ep("a", "10.244.1.5", ready=False, terminating=True), id="terminating"),
]


@pytest.mark.parametrize("change,expected", CHANGE_CASES)
def test_reconcile_pod_change_updates_in_place(change, expected):
    api, name = _one_pod_change(change)
    assert api.writes == [("update", name)]
    assert api.endpoints()["a"] == expected
    assert api.endpoints()["b"] == ep("b", "10.244.1.6")


def test_reconcile_pod_labels_no_longer_match():
    api, name = _one_pod_change(lambda: make_pod("a", labels={"app": "else"}))
    assert api.writes == [("update", name)]
    assert sorted(api.endpoints()) == ["b"]


def test_reconcile_zone_label_change_on_node():
    api = FakeAPI()
    api.sync(make_service(), [make_pod("a")])
    plan = reconcile(make_service(), [make_pod("a")], {"n1": make_node("n1", "z9")}, api.list(), now=NOW)
    assert plan.update[0]["endpoints"][0]["zone"] == "z9"


def test_reconcile_missing_node_skips_pod_and_asks_for_retry():
    pods = [make_pod("a"), make_pod("b", ip="10.244.1.6", node="gone")]
    plan = reconcile(make_service(), pods, NODES, [], now=NOW)
    assert [e["targetRef"]["name"] for e in plan.create[0]["endpoints"]] == ["a"]
    assert plan.missing_nodes == ("gone",)


def test_reconcile_missing_node_published_with_publish_not_ready():
    pods = [make_pod("b", ip="10.244.1.6", node="gone")]
    plan = reconcile(make_service(pnra=True), pods, NODES, [], now=NOW)
    assert plan.create[0]["endpoints"] == [ep("b", "10.244.1.6", node="gone", zone=None)]


# ---------------------------------------------------------------------------------------------
# headless, hostnames, labels, annotation


def test_reconcile_headless_hostname_when_subdomain_matches():
    svc = make_service(cluster_ip="None")
    pods = [make_pod("a", hostname="a-host", subdomain="web"), make_pod("b", ip="10.244.1.6", hostname="b-host", subdomain="other")]
    (s,) = reconcile(svc, pods, NODES, [], now=NOW).create
    assert s["metadata"]["labels"] == {**MANAGED, "service.kubernetes.io/headless": ""}
    assert s["endpoints"] == [ep("a", "10.244.1.5", hostname="a-host"), ep("b", "10.244.1.6")]


def test_reconcile_headless_without_ports():
    svc = make_service(cluster_ip="None", ports=[])
    (s,) = reconcile(svc, [make_pod("a")], NODES, [], now=NOW).create
    assert s["ports"] == [] and len(s["endpoints"]) == 1


def test_reconcile_hostname_change_replaces_endpoint():
    api = FakeAPI()
    api.sync(make_service(cluster_ip="None"), [make_pod("a")])
    api.writes.clear()
    api.sync(make_service(cluster_ip="None"), [make_pod("a", hostname="h", subdomain="web")])
    assert [w[0] for w in api.writes] == ["update"]
    assert api.endpoints()["a"]["hostname"] == "h"


def test_reconcile_service_labels_copied_without_reserved_keys():
    svc = make_service(labels={"team": "x", "kubernetes.io/service-name": "fake", "service.kubernetes.io/headless": "y"})
    (s,) = reconcile(svc, [make_pod("a")], NODES, [], now=NOW).create
    assert s["metadata"]["labels"] == {**MANAGED, "team": "x"}


def test_reconcile_service_label_change_updates_labels_only():
    api = FakeAPI()
    api.sync(make_service(), [make_pod("a")])
    (name,) = api.slices
    before = copy.deepcopy(api.slices[name])
    api.writes.clear()
    api.sync(make_service(labels={"team": "y"}), [make_pod("a")])
    assert api.writes == [("update", name)]
    assert api.slices[name]["metadata"]["labels"] == {**MANAGED, "team": "y"}
    assert api.slices[name]["endpoints"] == before["endpoints"]


def test_reconcile_trigger_time_annotation():
    (s,) = reconcile(make_service(), [make_pod("a")], NODES, [], now=NOW).create
    assert s["metadata"]["annotations"] == {"endpoints.kubernetes.io/last-change-trigger-time": NOW}
    (s,) = reconcile(make_service(), [make_pod("a")], NODES, [], now=None).create
    assert "annotations" not in s["metadata"]


# ---------------------------------------------------------------------------------------------
# which Services, which slices


def test_reconcile_selectorless_service_leaves_user_slices_alone():
    user = {"metadata": {"name": "web-manual", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "endpoints": [{"addresses": ["1.2.3.4"]}]}
    for svc in (make_service(selector=False), make_service(selector={})):
        assert reconcile(svc, [make_pod("a")], NODES, [user], now=NOW) == Plan()


def test_reconcile_external_name_gets_nothing():
    svc = make_service(type_="ExternalName", cluster_ip=None, externalName="example.com")
    assert reconcile(svc, [make_pod("a")], NODES, [], now=NOW) == Plan()


def test_reconcile_ignores_slices_not_managed_by_us():
    api = FakeAPI()
    api.sync(make_service(), [make_pod("a")])
    other = copy.deepcopy(next(iter(api.slices.values())))
    other["metadata"].update(name="web-mirror", labels={"kubernetes.io/service-name": "web", "endpointslice.kubernetes.io/managed-by": "someone-else"})
    assert reconcile(make_service(), [make_pod("a")], NODES, api.list() + [other], now=NOW).empty


def test_reconcile_ignores_slices_pending_deletion():
    api = FakeAPI()
    api.sync(make_service(), [make_pod("a")])
    (s,) = api.list()
    s["metadata"]["deletionTimestamp"] = NOW
    plan = reconcile(make_service(), [make_pod("a")], NODES, [s], now=NOW)
    assert len(plan.create) == 1 and not plan.delete and not plan.update


def test_reconcile_slice_owned_by_other_uid_is_deleted():
    api = FakeAPI()
    api.sync(make_service(uid="old-uid"), [make_pod("a")])
    (old,) = api.slices
    plan = api.sync(make_service(uid="new-uid"), [make_pod("a")])
    # a slice of another UID is never reused: delete it, create a new one
    assert [d["metadata"]["name"] for d in plan.delete] == [old] and len(plan.create) == 1
    (s,) = api.slices.values()
    assert s["metadata"]["ownerReferences"][0]["uid"] == "new-uid"


def test_reconcile_service_pending_deletion_creates_nothing():
    svc = make_service()
    svc["metadata"]["deletionTimestamp"] = NOW
    assert reconcile(svc, [make_pod("a")], NODES, [], now=NOW).create == ()


# ---------------------------------------------------------------------------------------------
# placeholder


def test_reconcile_placeholder_when_no_endpoints():
    (s,) = reconcile(make_service(), [], NODES, [], now=NOW).create
    assert s == {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"generateName": "web-", "namespace": "default", "labels": MANAGED, "ownerReferences": [OWNER],
                     "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": NOW}},
        "addressType": "IPv4", "ports": [], "endpoints": [],
    }


def test_reconcile_placeholder_kept_on_resync():
    api = FakeAPI()
    api.sync(make_service(), [])
    assert api.sync(make_service(), []).empty
    # as stored by an API server that drops empty lists (ports: null)
    (name,) = api.slices
    api.slices[name]["ports"] = None
    assert api.sync(make_service(), []).empty


def test_reconcile_last_pod_gone_turns_slice_into_placeholder():
    api = FakeAPI()
    api.sync(make_service(), [make_pod("a")])
    (name,) = api.slices
    api.writes.clear()
    api.sync(make_service(), [])
    assert api.writes == [("update", name)]
    assert api.slices[name]["endpoints"] == [] and api.slices[name]["ports"] == []


def test_reconcile_placeholder_filled_when_pods_come():
    api = FakeAPI()
    api.sync(make_service(), [])
    (name,) = api.slices
    api.writes.clear()
    api.sync(make_service(), [make_pod("a")])
    assert api.writes == [("update", name)]
    assert api.slices[name]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]


# ---------------------------------------------------------------------------------------------
# address types (dual-stack)


def test_reconcile_dual_stack_one_slice_set_per_family():
    svc = make_service(families=("IPv4", "IPv6"))
    pods = [make_pod("a", ips=["10.244.1.5", "fd00:0:0:0::5"])]
    plan = reconcile(svc, pods, NODES, [], now=NOW)
    assert [(s["addressType"], s["endpoints"][0]["addresses"]) for s in plan.create] == [
        ("IPv4", ["10.244.1.5"]), ("IPv6", ["fd00::5"]),
    ]


def test_reconcile_dual_stack_pod_without_v6_ip_gets_v6_placeholder():
    svc = make_service(families=("IPv6", "IPv4"))
    plan = reconcile(svc, [make_pod("a")], NODES, [], now=NOW)
    assert sorted((s["addressType"], len(s["endpoints"])) for s in plan.create) == [("IPv4", 1), ("IPv6", 0)]


def test_reconcile_dropped_family_slices_deleted():
    api = FakeAPI()
    pods = [make_pod("a", ips=["10.244.1.5", "fd00::5"])]
    api.sync(make_service(families=("IPv4", "IPv6")), pods)
    v6 = next(n for n, s in api.slices.items() if s["addressType"] == "IPv6")
    api.writes.clear()
    api.sync(make_service(families=("IPv4",)), pods)
    assert api.writes == [("delete", v6)]


ADDRESS_TYPE_CASES = [
    pytest.param({"ipFamilies": ["IPv6"], "clusterIP": "fd00::1"}, ["IPv6"], id="families"),
    pytest.param({"clusterIP": "10.96.0.1"}, ["IPv4"], id="no-families-v4-cluster-ip"),
    pytest.param({"clusterIP": "fd00::1"}, ["IPv6"], id="no-families-v6-cluster-ip"),
    pytest.param({"clusterIP": "None"}, ["IPv4", "IPv6"], id="no-families-headless"),
]


@pytest.mark.parametrize("spec,expected", ADDRESS_TYPE_CASES)
def test_address_types_for_service(spec, expected):
    assert util.address_types_for_service({"spec": spec}) == expected


IP_CASES = [
    pytest.param("010.001.002.003", "IPv4", ["10.1.2.3"], id="v4-leading-zeros"),
    pytest.param("FD00:0:0:0:0:0:0:1", "IPv6", ["fd00::1"], id="v6-canonical"),
    pytest.param("::ffff:10.1.2.3", "IPv4", ["10.1.2.3"], id="v4-mapped"),
    pytest.param("not-an-ip", "IPv4", [], id="garbage"),
]


@pytest.mark.parametrize("raw,family,expected", IP_CASES)
def test_pod_addresses_canonical(raw, family, expected):
    assert util.pod_addresses(make_pod("a", ip=raw), family) == expected


# ---------------------------------------------------------------------------------------------
# determinism and purity


def test_reconcile_is_deterministic_and_does_not_mutate_inputs():
    api = FakeAPI()
    pods = many_pods(180)
    api.sync(make_service(), pods)
    existing = api.list()
    new_pods = pods[20:] + many_pods(60, start=400)
    snapshot = copy.deepcopy((new_pods, existing))
    a = reconcile(make_service(), new_pods, NODES, existing, now=NOW)
    shuffled = list(new_pods)
    random.Random(7).shuffle(shuffled)
    b = reconcile(make_service(), shuffled, NODES, list(reversed(existing)), now=NOW)
    assert a == b
    assert (new_pods, existing) == snapshot


@pytest.mark.parametrize("module", ["endpointslice_reconcile.py", "endpointslice_util.py"])
def test_pure_modules_do_no_io(module):
    path = pathlib.Path(rec.__file__).parent / module
    banned = {"asyncio", "socket", "subprocess", "sqlite3", "pyroute2"}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            assert not {a.name.split(".")[0] for a in node.names} & banned
        elif isinstance(node, ast.ImportFrom):
            assert (node.module or "").split(".")[0] not in banned
            assert not (node.module or "").startswith("svcnet.client")


@pytest.mark.parametrize("module", [rec, util])
def test_module_all_is_complete_and_sorted(module):
    assert list(module.__all__) == sorted(module.__all__)
    for name in module.__all__:
        assert hasattr(module, name)


# ---------------------------------------------------------------------------------------------
# trackers and pod events (endpointslice_util)


def _pod_at(name, t, ready=True):
    p = make_pod(name, ready=ready)
    p["status"]["conditions"][0]["lastTransitionTime"] = t
    return p


def test_trigger_time_tracker():
    tt = util.TriggerTimeTracker()
    svc = make_service()
    # first sync: the Service's creation time
    assert tt.compute("default", svc, [_pod_at("a", "2024-05-01T09:30:00Z")]) == "2024-05-01T09:00:00Z"
    # nothing changed: no trigger time
    assert tt.compute("default", svc, [_pod_at("a", "2024-05-01T09:30:00Z")]) is None
    # the earliest of the changed transitions
    pods = [_pod_at("a", "2024-05-01T09:45:00.5Z"), _pod_at("b", "2024-05-01T09:50:00Z")]
    assert tt.compute("default", svc, pods) == "2024-05-01T09:45:00.5Z"
    tt.delete_service("default", "web")
    assert tt.compute("default", svc, pods) == "2024-05-01T09:00:00Z"


def _slice(uid, rv, name="web-x"):
    return {"metadata": {"name": name, "namespace": "default", "uid": uid, "resourceVersion": str(rv), "labels": dict(MANAGED)}}


def test_endpoint_slice_tracker_stale_and_should_sync():
    t = util.EndpointSliceTracker()
    svc = make_service()
    assert not t.stale_slices(svc, [])
    t.update(_slice("u1", 10))
    assert t.stale_slices(svc, [])  # we wrote it, the cache does not show it yet
    assert t.stale_slices(svc, [_slice("u1", 9)])  # older than our write
    assert not t.stale_slices(svc, [_slice("u1", 10)])
    assert not t.should_sync(_slice("u1", 10))  # our own write
    assert t.should_sync(_slice("u1", 11))  # someone else's
    t.expect_deletion(_slice("u1", 10))
    assert t.stale_slices(svc, [_slice("u1", 10)])
    assert not t.stale_slices(svc, [])
    assert t.handle_deletion(_slice("u1", 10)) is True
    t.update(_slice("u2", 20))
    assert t.handle_deletion(_slice("u2", 20)) is False  # not expected: somebody deleted it
    t.update(_slice("u3", 30))
    assert t.stale_slices(svc, [])
    # a recreated Service (new UID) forgets the old one's writes
    assert not t.stale_slices(make_service(uid="other"), [])


def _ns_services():
    return [
        make_service("web", selector={"app": "web"}),
        make_service("all", selector={"tier": "fe"}),
        make_service("none", selector=False),
        make_service("elsewhere", ns="other", selector={"app": "web"}),
    ]


POD_EVENT_CASES = [
    # (old pod, new pod, expected Service names to sync)
    pytest.param(make_pod("a"), make_pod("a"), set(), id="nothing-relevant"),
    pytest.param(make_pod("a"), make_pod("a", ready=False), {"web"}, id="readiness"),
    pytest.param(make_pod("a"), make_pod("a", ip="10.0.0.9"), {"web"}, id="ip"),
    pytest.param(make_pod("a"), make_pod("a", deleting=True), {"web"}, id="deletion-timestamp"),
    pytest.param(make_pod("a"), make_pod("a", phase="Succeeded"), {"web"}, id="phase"),
    pytest.param(make_pod("a"), make_pod("a", ports=(("http", 9090, "TCP"),)), {"web"}, id="container-ports"),
    pytest.param(make_pod("a"), make_pod("a", hostname="h", subdomain="web"), {"web"}, id="hostname"),
    pytest.param(make_pod("a"), make_pod("a", labels={"app": "web", "tier": "fe"}), {"all"}, id="labels-only-symmetric-difference"),
    pytest.param(make_pod("a"), make_pod("a", labels={"tier": "fe"}, ready=False), {"web", "all"}, id="labels-and-pod-union"),
]


@pytest.mark.parametrize("old,new,expected", POD_EVENT_CASES)
def test_services_to_update_on_pod_change(old, new, expected):
    old["metadata"]["resourceVersion"], new["metadata"]["resourceVersion"] = "1", "2"
    assert {k[1] for k in util.services_to_update_on_pod_change(_ns_services(), old, new)} == expected


def test_services_to_update_on_pod_resync_same_rv():
    old, new = make_pod("a"), make_pod("a", ready=False)
    old["metadata"]["resourceVersion"] = new["metadata"]["resourceVersion"] = "5"
    assert util.services_to_update_on_pod_change(_ns_services(), old, new) == set()


def test_services_for_pod_respects_namespace_and_nil_selector():
    assert util.services_for_pod(_ns_services(), make_pod("a")) == {("default", "web")}
    assert util.services_for_pod(_ns_services(), make_pod("a", ns="other")) == {("other", "elsewhere")}


def test_format_rfc3339nano():
    import datetime as dt

    assert util.format_rfc3339nano(dt.datetime(2024, 5, 1, 10, 0, 0, tzinfo=dt.timezone.utc)) == "2024-05-01T10:00:00Z"
    assert util.format_rfc3339nano(dt.datetime(2024, 5, 1, 10, 0, 0, 120000, tzinfo=dt.timezone.utc)) == "2024-05-01T10:00:00.12Z"
