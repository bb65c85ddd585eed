"""LoadBalancer IP pools and the LB controller's pure decision (service-api.md section 6)."""

from __future__ import annotations

import pytest

from svcnet.controllers.lbipam import (
    DEFAULT_LOCAL_POOL,
    LB_CLASS,
    LBIPAM,
    LBPool,
    LBPoolError,
    LoadBalancerIPController,
    desired_ingress,
    is_managed,
    plan,
    requested_ips,
)


def lb(name="web", ns="default", *, cls=None, ip=None, ann=None, fams=None, policy=None, status_ips=(), type_="LoadBalancer"):
    spec = {"type": type_, "ports": [{"port": 80, "protocol": "TCP"}]}
    if cls is not None:
        spec["loadBalancerClass"] = cls
    if ip is not None:
        spec["loadBalancerIP"] = ip
    if fams is not None:
        spec["ipFamilies"] = fams
    if policy is not None:
        spec["ipFamilyPolicy"] = policy
    md = {"name": name, "namespace": ns}
    if ann:
        md["annotations"] = ann
    status = {"loadBalancer": {"ingress": [{"ip": i, "ipMode": "VIP"} for i in status_ips]} if status_ips else {}}
    return {"apiVersion": "v1", "kind": "Service", "metadata": md, "spec": spec, "status": status}


# -- pools ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pool,first,contains,not_contains",
    [
        (DEFAULT_LOCAL_POOL, "127.240.0.1", ["127.240.0.1", "127.240.0.254"], ["127.240.0.0", "127.240.0.255", "127.241.0.1"]),
        (LBPool(name="p", addresses=("192.168.10.0/24",)), "192.168.10.0", ["192.168.10.0", "192.168.10.255"], ["192.168.11.0"]),
        (LBPool(name="p", addresses=("10.0.0.250-10.0.1.5",), avoid_buggy_ips=True), "10.0.0.250",
         ["10.0.0.254", "10.0.1.1"], ["10.0.0.255", "10.0.1.0", "10.0.1.6"]),
        (LBPool(name="p", addresses=("fd00::10-fd00::12",)), None, ["fd00::11"], ["fd00::13", "10.0.0.1"]),
        (LBPool(name="p", addresses="198.51.100.7"), "198.51.100.7", ["198.51.100.7"], ["198.51.100.8"]),
    ],
    ids=["default-local", "cidr", "range-avoid-buggy", "v6-range", "single"],
)
def test_lbpool_membership_and_order(pool, first, contains, not_contains):
    v4 = [str(a) for a in pool.iter_addresses(4)]
    assert (v4[0] if v4 else None) == first
    for ip in contains:
        assert pool.contains(ip)
    for ip in not_contains:
        assert not pool.contains(ip)


@pytest.mark.parametrize("bad", ["nonsense", "10.0.0.5-10.0.0.1", "10.0.0.1-fd00::1", "10.0.0.0/33"])
def test_lbpool_rejects_bad_entries(bad):
    with pytest.raises(LBPoolError):
        LBPool(name="p", addresses=(bad,))


def test_lbipam_rejects_duplicate_pool_names():
    with pytest.raises(LBPoolError):
        LBIPAM([LBPool(name="a", addresses=("10.0.0.0/30",)), LBPool(name="a", addresses=("10.0.1.0/30",))])


# -- which Services --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "svc,managed",
    [
        (lb(), True),
        (lb(cls=LB_CLASS), True),
        (lb(cls="example.com/other"), False),
        (lb(type_="ClusterIP"), False),
        (lb(type_="NodePort"), False),
    ],
    ids=["nil-class", "our-class", "foreign-class", "clusterip", "nodeport"],
)
def test_is_managed(svc, managed):
    assert is_managed(svc) is managed
    assert (desired_ingress(svc, LBIPAM()) is None) is (not managed)


def test_is_managed_not_default_implementation():
    assert not is_managed(lb(), default_implementation=False)
    assert is_managed(lb(cls=LB_CLASS), default_implementation=False)


# -- decisions ---------------------------------------------------------------------------------------


def test_desired_ingress_lowest_free_first_and_pure():
    state = LBIPAM()
    assert desired_ingress(lb("a"), state) == [{"ip": "127.240.0.1", "ipMode": "VIP"}]
    assert state.used() == {}  # pure: nothing taken
    state.assign("default/a", ["127.240.0.1"])
    assert desired_ingress(lb("b"), state) == [{"ip": "127.240.0.2", "ipMode": "VIP"}]
    assert desired_ingress(lb("a"), state) == [{"ip": "127.240.0.1", "ipMode": "VIP"}]  # keeps its own


@pytest.mark.parametrize(
    "svc,ips",
    [
        (lb(ip="127.240.0.77"), ["127.240.0.77"]),
        (lb(ann={"metallb.universe.tf/loadBalancerIPs": "127.240.0.9"}), ["127.240.0.9"]),
        (lb(ann={"svcnet.io/loadBalancerIPs": "127.240.0.8, 127.240.0.200"}), None),  # two IPv4s
        (lb(ann={"metallb.io/loadBalancerIPs": "127.240.0.10"}, ip="127.240.0.11"), ["127.240.0.10"]),
    ],
    ids=["spec-loadBalancerIP", "metallb-annotation", "two-same-family", "annotation-wins"],
)
def test_plan_requested(svc, ips):
    p = plan(svc, LBIPAM())
    assert p.managed
    if ips is None:
        assert p.ips == () and "one requested address per IP family" in p.reason
    else:
        assert list(p.ips) == ips


def test_plan_requested_must_lie_in_a_pool_and_be_free():
    state = LBIPAM()
    p = plan(lb(ip="10.1.2.3"), state)
    assert p.ips == () and p.reason == "requested address 10.1.2.3 is not in any address pool"
    assert desired_ingress(lb(ip="10.1.2.3"), state) == []  # pending
    state.assign("default/other", ["127.240.0.5"])
    p = plan(lb(ip="127.240.0.5"), state)
    assert p.ips == () and p.reason == "requested address 127.240.0.5 is already assigned to default/other"
    p = plan(lb(ip="not-an-ip"), state)
    assert p.ips == () and "not a valid IP" in p.reason
    assert requested_ips(lb()) is None


def test_plan_auto_assign_false_only_on_request():
    manual = LBPool(name="manual", addresses=("198.51.100.0/30",), auto_assign=False)
    auto = LBPool(name="auto", addresses=("203.0.113.8/30",))
    state = LBIPAM([manual, auto])
    assert plan(lb(), state).ips == ("203.0.113.8",)
    assert plan(lb(ip="198.51.100.2"), state).ips == ("198.51.100.2",)
    assert plan(lb(ann={"svcnet.io/address-pool": "manual"}), state).ips == ("198.51.100.0",)
    p = plan(lb(ann={"metallb.universe.tf/address-pool": "nope"}), state)
    assert p.ips == () and "does not exist" in p.reason


def test_plan_pool_exhausted_is_pending():
    state = LBIPAM([LBPool(name="tiny", addresses=("10.9.0.1-10.9.0.2",))])
    state.assign("default/a", ["10.9.0.1"])
    state.assign("default/b", ["10.9.0.2"])
    p = plan(lb("c"), state)
    assert p.ips == () and p.reason == "no available IPv4 address in the address pools"
    assert p.ingress == []


def test_plan_dual_stack():
    state = LBIPAM([LBPool(name="p", addresses=("10.9.0.0/30", "fd00:9::/126"))])
    assert plan(lb(fams=["IPv6", "IPv4"], policy="RequireDualStack"), state).ips == ("fd00:9::", "10.9.0.0")
    v4only = LBIPAM([LBPool(name="p", addresses=("10.9.0.0/30",))])
    assert plan(lb(fams=["IPv4", "IPv6"], policy="PreferDualStack"), v4only).ips == ("10.9.0.0",)
    assert plan(lb(fams=["IPv4", "IPv6"], policy="RequireDualStack"), v4only).ips == ()


# -- the controller shell ------------------------------------------------------------------------


def test_controller_assign_keep_release():
    c = LoadBalancerIPController()
    a = lb("a")
    patch = c.on_upsert(a)
    assert patch == {"status": {"loadBalancer": {"ingress": [{"ip": "127.240.0.1", "ipMode": "VIP"}]}}}
    a["status"] = patch["status"]
    assert c.on_upsert(a) is None  # already right: nothing to write
    b = lb("b")
    assert c.on_upsert(b)["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.240.0.2"
    c.on_delete(a)
    assert c.ipam.owner("127.240.0.1") is None
    assert c.on_upsert(lb("d"))["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.240.0.1"


def test_controller_type_change_releases():
    c = LoadBalancerIPController()
    a = lb("a")
    a["status"] = c.on_upsert(a)["status"]
    a["spec"]["type"] = "ClusterIP"
    a["status"] = {"loadBalancer": {}}  # the apiserver resets it (dropTypeDependentFields)
    assert c.on_upsert(a) is None
    assert c.ipam.used() == {}


def test_controller_foreign_class_untouched():
    c = LoadBalancerIPController()
    svc = lb("x", cls="example.com/lb", status_ips=["1.2.3.4"])
    assert c.on_upsert(svc) is None
    assert c.ipam.used() == {}


def test_controller_pending_records_event_and_clears_status():
    c = LoadBalancerIPController(LBIPAM([LBPool(name="p", addresses=("10.9.0.1",))]))
    assert c.on_upsert(lb("a"))["status"]["loadBalancer"]["ingress"][0]["ip"] == "10.9.0.1"
    assert c.on_upsert(lb("b")) is None  # pending and status already empty
    assert c.events == [("default/b", "no available IPv4 address in the address pools")]
    stale = lb("c", status_ips=["10.9.0.1"])  # claims an address it does not own
    assert c.on_upsert(stale) == {"status": {"loadBalancer": {}}}


def test_controller_resync_keeps_assignments_across_restart():
    c = LoadBalancerIPController()
    svcs = [lb("a", status_ips=["127.240.0.50"]), lb("b"), lb("c", status_ips=["127.240.0.50"])]
    patches = c.resync(svcs)
    assert patches[0] is None  # a keeps .50
    assert patches[1]["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.240.0.1"
    assert patches[2]["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.240.0.2"  # conflict loser moves
    assert c.ipam.owner("127.240.0.50") == "default/a"


def test_controller_keeps_recorded_address_without_resync():
    c = LoadBalancerIPController()
    svc = lb("a", status_ips=["127.240.0.33"])
    assert desired_ingress(svc, c.ipam) == [{"ip": "127.240.0.33", "ipMode": "VIP"}]
    assert c.on_upsert(svc) is None and c.ipam.owner("127.240.0.33") == "default/a"
    moved = lb("b", status_ips=["10.1.1.1"])  # no longer in any pool: reassigned
    assert c.on_upsert(moved)["status"]["loadBalancer"]["ingress"][0]["ip"] == "127.240.0.1"


def test_controller_requested_ip_change_moves_assignment():
    c = LoadBalancerIPController()
    a = lb("a")
    a["status"] = c.on_upsert(a)["status"]
    a["spec"]["loadBalancerIP"] = "127.240.0.100"
    assert c.on_upsert(a)["status"]["loadBalancer"]["ingress"] == [{"ip": "127.240.0.100", "ipMode": "VIP"}]
    assert c.ipam.owner("127.240.0.1") is None and c.ipam.owner("127.240.0.100") == "default/a"


def test_lbipam_assign_conflict_raises():
    s = LBIPAM()
    s.assign("ns/a", ["127.240.0.1"])
    with pytest.raises(LBPoolError):
        s.assign("ns/b", ["127.240.0.1"])
    assert s.release("ns/a") == ("127.240.0.1",)
    assert s.release("ns/a") == ()
