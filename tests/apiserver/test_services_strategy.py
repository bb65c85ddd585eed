"""ServiceStrategy driven directly, with a tiny dict "store" playing the registry's part.

Vectors: service-api.md section 7 (7.1, 7.10, 7.11, 7.12, 7.15, 7.22, 7.23, 7.25) on a single-stack
IPv4 cluster with service CIDR 10.96.0.0/12 and node ports 30000-32767; the type/port/ETP
change cases follow upstream storage_test.go (TestUpdate*/TestCreate*) behaviour.
"""

from __future__ import annotations

import copy
import ipaddress
import random

import pytest

from svcnet.api.errors import APIError, Invalid, InternalError

apply_defaults = pytest.importorskip("svcnet.api.defaults").apply_defaults

from svcnet.apiserver.service_alloc import (  # noqa: E402
    held_cluster_ips,
    held_health_check_node_port,
    held_node_ports,
)
from svcnet.apiserver.services import (  # noqa: E402
    ServiceConfig,
    ServiceStrategy,
    drop_type_dependent_fields,
    kubernetes_service_ip,
)


class MiniRegistry:
    """The registry's hook order (svcnet.apiserver.strategy) over a dict."""

    def __init__(self, strategy: ServiceStrategy):
        self.s = strategy
        self.store: dict[str, dict] = {}

    def create(self, obj: dict, *, dry_run: bool = False, fail_store: bool = False) -> dict:
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("kind", "Service")
        md = obj.setdefault("metadata", {})
        md.setdefault("namespace", "default")
        apply_defaults(obj)
        self.s.prepare_for_create(obj)
        txn = self.s.begin_create(obj, dry_run=dry_run)
        try:
            errs = self.s.validate(obj)
            if errs:
                raise Invalid("Service", md.get("name", ""), errs)
            if dry_run:
                txn.revert()
                return obj
            if fail_store:
                raise RuntimeError("store write failed")
            assert md["name"] not in self.store
            self.store[md["name"]] = obj
        except BaseException:
            txn.revert()
            raise
        txn.commit()
        return copy.deepcopy(obj)

    def update(self, obj: dict, *, dry_run: bool = False, fail_store: bool = False) -> dict:
        obj = copy.deepcopy(obj)
        obj.setdefault("apiVersion", "v1")
        obj.setdefault("kind", "Service")
        md = obj.setdefault("metadata", {})
        md.setdefault("namespace", "default")
        old = self.store[md["name"]]
        apply_defaults(obj)
        self.s.prepare_for_update(obj, old)
        txn = self.s.begin_update(obj, old, dry_run=dry_run)
        try:
            errs = self.s.validate_update(obj, old)
            if errs:
                raise Invalid("Service", md["name"], errs)
            if dry_run:
                txn.revert()
                return obj
            if fail_store:
                raise RuntimeError("store write failed")
            self.store[md["name"]] = obj
        except BaseException:
            txn.revert()
            raise
        txn.commit()
        return copy.deepcopy(obj)

    def delete(self, name: str) -> None:
        obj = self.store.pop(name)
        self.s.after_delete(obj)

    def get(self, name: str) -> dict:
        return copy.deepcopy(self.store[name])


def check_accounting(reg: MiniRegistry) -> None:
    """The allocators hold exactly what the stored Services hold."""
    ips: list[str] = []
    ports: list[int] = []
    for svc in reg.store.values():
        ips += [str(ipaddress.ip_address(ip)) for ip in held_cluster_ips(svc)]
        ports += held_node_ports(svc)
        if hc := held_health_check_node_port(svc):
            ports.append(hc)
    assert len(ips) == len(set(ips)), f"a ClusterIP is held twice: {sorted(ips)}"
    assert len(ports) == len(set(ports)), f"a nodePort is held twice: {sorted(ports)}"
    assert reg.s.cluster_ips.allocated() == set(ips)
    assert reg.s.node_ports.allocated() == set(ports)


def svc(name="svc", **spec) -> dict:
    spec.setdefault("ports", [{"port": 80}])
    if spec["ports"] is None:
        del spec["ports"]
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def error_text(err: APIError) -> str:
    msg = err.status["message"]
    prefix = 'Service "svc" is invalid: '
    return msg[len(prefix):] if msg.startswith(prefix) else msg


@pytest.fixture
def reg() -> MiniRegistry:
    r = MiniRegistry(ServiceStrategy(config=ServiceConfig(), rng=random.Random(1234)))
    yield r
    check_accounting(r)


def in_range(ip: str, lo: str, hi: str) -> bool:
    a = ipaddress.ip_address(ip)
    return ipaddress.ip_address(lo) <= a <= ipaddress.ip_address(hi)


# -- 7.1 and the stored shape (§1.2, §1.3 example) ----------------------------------------------


def test_service_create_minimal_cluster_ip(reg):
    out = reg.create(svc(selector={"app": "web"}))
    spec = out["spec"]
    ip = spec["clusterIP"]
    assert in_range(ip, "10.96.1.1", "10.111.255.254")  # dynamic band
    assert spec == {
        "clusterIP": ip,
        "clusterIPs": [ip],
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}],
        "selector": {"app": "web"},
        "sessionAffinity": "None",
        "type": "ClusterIP",
    }
    assert out["status"] == {"loadBalancer": {}}


def test_service_create_discards_user_status(reg):
    obj = svc()
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    assert reg.create(obj)["status"] == {"loadBalancer": {}}


# -- 7.10 / 7.11 / 7.12 nodePorts ---------------------------------------------------------------


def test_service_create_node_port_out_of_range_7_10(reg):
    with pytest.raises(Invalid) as e:
        reg.create(svc(type="NodePort", ports=[{"port": 80, "nodePort": 1}]))
    assert error_text(e.value) == (
        "spec.ports[0].nodePort: Invalid value: 1: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"
    )
    assert e.value.code == 422


def test_service_create_node_port_taken_7_10(reg):
    out = reg.create(svc(type="NodePort", ports=[{"port": 80, "nodePort": 30080}]))
    assert out["spec"]["ports"][0]["nodePort"] == 30080
    assert out["spec"]["externalTrafficPolicy"] == "Cluster"
    with pytest.raises(Invalid) as e:
        reg.create(svc("other", type="NodePort", ports=[{"port": 80, "nodePort": 30080}]))
    assert e.value.status["message"] == (
        'Service "other" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated'
    )


def test_service_create_duplicate_node_port_same_protocol_7_11(reg):
    with pytest.raises(Invalid) as e:
        reg.create(svc(type="NodePort", ports=[
            {"name": "q", "port": 1, "nodePort": 30001},
            {"name": "r", "port": 2, "nodePort": 30001},
        ]))
    assert error_text(e.value) == (
        "spec.ports[1].nodePort: Invalid value: 30001: provided port is already allocated"
    )
    assert reg.s.node_ports.used == 0  # the first allocation was given back


def test_service_create_tcp_udp_share_node_port_7_12(reg):
    out = reg.create(svc(type="NodePort", ports=[
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
        {"name": "dns", "port": 53, "protocol": "UDP"},
    ]))
    a, b = (p["nodePort"] for p in out["spec"]["ports"])
    assert a == b and 30086 <= a <= 32767
    assert out["spec"]["externalTrafficPolicy"] == "Cluster"
    assert reg.s.node_ports.used == 1


def test_service_create_shared_port_user_value_on_second_port(reg):
    out = reg.create(svc(type="NodePort", ports=[
        {"name": "a", "port": 53, "protocol": "TCP"},
        {"name": "b", "port": 53, "protocol": "UDP", "nodePort": 30053},
    ]))
    assert [p["nodePort"] for p in out["spec"]["ports"]] == [30053, 30053]


def test_service_create_allocation_error_wins_over_validation(reg):
    with pytest.raises(Invalid) as e:
        reg.create(svc(type="NodePort", ports=[{"name": "INVALID", "port": 80, "nodePort": 1}]))
    assert error_text(e.value).startswith("spec.ports[0].nodePort: Invalid value: 1: provided port")


def test_service_create_validation_failure_reverts_allocation(reg):
    with pytest.raises(Invalid) as e:
        reg.create(svc(type="NodePort", clusterIP="10.96.0.20",
                       ports=[{"name": "INVALID", "port": 80, "nodePort": 30500}]))
    assert error_text(e.value).startswith('spec.ports[0].name: Invalid value: "INVALID"')
    assert not reg.s.node_ports.has(30500)
    assert not reg.s.cluster_ips["IPv4"].has("10.96.0.20")


def test_service_create_store_failure_reverts(reg):
    with pytest.raises(RuntimeError):
        reg.create(svc(type="LoadBalancer", externalTrafficPolicy="Local"), fail_store=True)
    assert reg.s.node_ports.used == 0 and reg.s.cluster_ips.allocated() == set()


def test_service_create_node_port_range_full_is_500():
    r = MiniRegistry(ServiceStrategy(config=ServiceConfig(node_port_range=(30000, 30001))))
    r.create(svc("a", type="NodePort", ports=[{"name": "x", "port": 1}, {"name": "y", "port": 2}]))
    with pytest.raises(InternalError) as e:
        r.create(svc("b", type="NodePort"))
    assert e.value.code == 500
    assert e.value.status["message"] == "Internal error occurred: failed to allocate a nodePort: range is full"
    check_accounting(r)


# -- 7.15 ClusterIPs -----------------------------------------------------------------------------


def test_service_create_specific_cluster_ip_7_15(reg):
    out = reg.create(svc("dns", clusterIP="10.96.0.10"))
    assert out["spec"]["clusterIPs"] == ["10.96.0.10"]
    lo, hi = reg.s.cluster_ips["IPv4"].static_band
    assert in_range("10.96.0.10", lo, hi)
    with pytest.raises(Invalid) as e:
        reg.create(svc(clusterIP="10.96.0.10"))
    assert error_text(e.value) == (
        'spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate IP 10.96.0.10: '
        "provided IP is already allocated"
    )


def test_service_create_kubernetes_ip_taken_7_15(reg):
    ip = kubernetes_service_ip("10.96.0.0/12")
    assert ip == "10.96.0.1"
    reg.create({"metadata": {"name": "kubernetes"},
                "spec": {"clusterIP": ip, "ports": [{"name": "https", "port": 443, "targetPort": 6443}]}})
    with pytest.raises(Invalid) as e:
        reg.create(svc(clusterIP="10.96.0.1"))
    assert error_text(e.value) == (
        'spec.clusterIPs: Invalid value: []string{"10.96.0.1"}: failed to allocate IP 10.96.0.1: '
        "provided IP is already allocated"
    )


def test_service_create_cluster_ip_out_of_range(reg):
    with pytest.raises(Invalid) as e:
        reg.create(svc(clusterIP="192.168.1.1"))
    assert error_text(e.value) == (
        'spec.clusterIPs: Invalid value: []string{"192.168.1.1"}: failed to allocate IP 192.168.1.1: '
        "provided IP 192.168.1.1 is not in the valid range"
    )


def test_service_create_cluster_ip_range_full_is_500():
    r = MiniRegistry(ServiceStrategy(config=ServiceConfig(service_cidrs=("10.0.0.0/29",))))
    for i in range(6):
        r.create(svc(f"s{i}"))
    with pytest.raises(InternalError) as e:
        r.create(svc("s6"))
    assert e.value.status["message"] == "Internal error occurred: failed to allocate a serviceIP: range is full"
    assert e.value.status["code"] == 500 and e.value.status["reason"] == "InternalError"
    check_accounting(r)


def test_service_create_cluster_ips_only_is_rule_20(reg):
    with pytest.raises(Invalid) as e:
        reg.create(svc(clusterIPs=["10.96.0.50"]))
    assert error_text(e.value) == (
        'spec.clusterIPs: Invalid value: []string{"10.96.0.50"}: must be empty when `clusterIP` is not specified'
    )


def test_service_create_headless_holds_nothing(reg):
    out = reg.create(svc(clusterIP="None", selector={"app": "a"}, ports=None))
    assert out["spec"]["clusterIPs"] == ["None"]
    assert out["spec"]["ipFamilyPolicy"] == "SingleStack" and out["spec"]["ipFamilies"] == ["IPv4"]
    assert reg.s.cluster_ips.allocated() == set()


def test_service_create_headless_selectorless_is_dual_on_single_stack(reg):
    out = reg.create(svc(clusterIP="None"))
    assert out["spec"]["ipFamilyPolicy"] == "RequireDualStack"
    assert out["spec"]["ipFamilies"] == ["IPv4", "IPv6"]


def test_service_create_dry_run_takes_nothing(reg):
    out = reg.create(svc(type="LoadBalancer", externalTrafficPolicy="Local"), dry_run=True)
    assert out["spec"]["clusterIP"] == "10.96.0.0"  # dry-run AllocateNext: the network address
    assert out["spec"]["healthCheckNodePort"] > 0
    assert reg.s.cluster_ips.allocated() == set() and reg.s.node_ports.used == 0


def test_service_create_dry_run_specific_ip_not_checked_for_use(reg):
    reg.create(svc("a", clusterIP="10.96.0.10"))
    out = reg.create(svc("b", clusterIP="10.96.0.10"), dry_run=True)  # upstream: range check only
    assert out["spec"]["clusterIP"] == "10.96.0.10"


# -- 7.22 traffic policy / healthCheckNodePort ---------------------------------------------------


def test_service_create_etp_local_on_cluster_ip_7_22(reg):
    with pytest.raises(Invalid) as e:
        reg.create(svc(type="ClusterIP", externalTrafficPolicy="Local"))
    assert error_text(e.value) == (
        'spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services'
    )


def test_service_create_hcnp_on_node_port_7_22(reg):
    with pytest.raises(Invalid) as e:
        reg.create(svc(type="NodePort", externalTrafficPolicy="Local", healthCheckNodePort=31000))
    assert error_text(e.value) == (
        "spec.healthCheckNodePort: Invalid value: 31000: may only be set when `type` is 'LoadBalancer' "
        "and `externalTrafficPolicy` is 'Local'"
    )
    assert reg.s.node_ports.used == 0


def test_service_create_lb_local_allocates_hcnp_7_22(reg):
    out = reg.create(svc(type="LoadBalancer", externalTrafficPolicy="Local",
                         ports=[{"name": "a", "port": 80}, {"name": "b", "port": 443}]))
    spec = out["spec"]
    assert spec["allocateLoadBalancerNodePorts"] is True
    hc = spec["healthCheckNodePort"]
    nps = [p["nodePort"] for p in spec["ports"]]
    assert 30000 <= hc <= 32767 and all(30000 <= n <= 32767 for n in nps)
    assert len({hc, *nps}) == 3
    assert out["status"] == {"loadBalancer": {}}


def test_service_create_lb_local_requested_hcnp(reg):
    out = reg.create(svc(type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=30999))
    assert out["spec"]["healthCheckNodePort"] == 30999


def test_service_create_itp_unsupported_7_22(reg):
    with pytest.raises(Invalid) as e:
        reg.create(svc(internalTrafficPolicy="Foo"))
    assert error_text(e.value) == (
        'spec.internalTrafficPolicy: Unsupported value: "Foo": supported values: "Cluster", "Local"'
    )


@pytest.mark.parametrize(
    "hc,detail",
    [
        (-1, "failed to allocate requested HealthCheck NodePort -1: provided port is not in the valid range. "
             "The range of valid ports is 30000-32767"),
        (30500, "failed to allocate requested HealthCheck NodePort 30500: provided port is already allocated"),
    ],
)
def test_service_create_hcnp_failure_is_500(reg, hc, detail):
    reg.create(svc("np", type="NodePort", ports=[{"port": 1, "nodePort": 30500}]))
    with pytest.raises(InternalError) as e:
        reg.create(svc(type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=hc))
    assert e.value.status["message"] == "Internal error occurred: " + detail
    assert e.value.code == 500


def test_service_create_lb_without_node_ports(reg):
    out = reg.create(svc(type="LoadBalancer", allocateLoadBalancerNodePorts=False,
                         ports=[{"name": "a", "port": 80}, {"name": "b", "port": 81, "nodePort": 30081}]))
    assert "nodePort" not in out["spec"]["ports"][0]
    assert out["spec"]["ports"][1]["nodePort"] == 30081
    assert reg.s.node_ports.allocated() == {30081}


def test_service_create_lb_without_node_ports_still_gets_hcnp(reg):
    out = reg.create(svc(type="LoadBalancer", allocateLoadBalancerNodePorts=False, externalTrafficPolicy="Local"))
    assert "nodePort" not in out["spec"]["ports"][0]
    assert reg.s.node_ports.allocated() == {out["spec"]["healthCheckNodePort"]}


# -- 7.23 dual-stack requests on a single-stack cluster -----------------------------------------


def test_service_create_require_dual_stack_7_23(reg):
    with pytest.raises(Invalid) as e:
        reg.create(svc(ipFamilyPolicy="RequireDualStack"))
    assert error_text(e.value) == (
        'spec.ipFamilyPolicy: Invalid value: "RequireDualStack": this cluster is not configured for dual-stack services'
    )


def test_service_create_prefer_dual_stack_7_23(reg):
    out = reg.create(svc(ipFamilyPolicy="PreferDualStack"))
    assert out["spec"]["ipFamilies"] == ["IPv4"] and len(out["spec"]["clusterIPs"]) == 1
    assert out["spec"]["ipFamilyPolicy"] == "PreferDualStack"


def test_service_create_ipv6_family_7_23(reg):
    with pytest.raises(Invalid) as e:
        reg.create(svc(ipFamilies=["IPv6"]))
    assert error_text(e.value) == 'spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster'


def test_service_create_ipv6_cluster_ip_unconfigured(reg):
    with pytest.raises(Invalid) as e:
        reg.create(svc(clusterIP="fd00::10"))
    assert error_text(e.value) == (
        'spec.clusterIPs[0]: Invalid value: []string{"fd00::10"}: IPv6 is not configured on this cluster'
    )


@pytest.mark.parametrize(
    "spec,expected",
    [
        ({"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4", "IPv6"]},
         'spec.ipFamilyPolicy: Invalid value: "SingleStack": must be \'RequireDualStack\' or '
         "'PreferDualStack' when multiple IP families are specified"),
        ({"clusterIP": "10.96.0.5", "clusterIPs": ["10.96.0.5", "fd00::5"], "ipFamilyPolicy": "SingleStack"},
         '[spec.ipFamilyPolicy: Invalid value: "SingleStack": must be \'RequireDualStack\' or '
         "'PreferDualStack' when multiple cluster IPs are specified, "
         'spec.clusterIPs[1]: Invalid value: []string{"10.96.0.5", "fd00::5"}: IPv6 is not configured on this cluster]'),
    ],
    ids=["two-families", "two-ips"],
)
def test_service_create_single_stack_policy_checks_a1(reg, spec, expected):
    with pytest.raises(Invalid) as e:
        reg.create(svc(**spec))
    assert error_text(e.value) == expected


def test_service_create_cluster_ips_related_errors_only(reg):
    """initIPFamilyFields returns only ValidateServiceClusterIPsRelatedFields errors (7.14)."""
    with pytest.raises(Invalid) as e:
        reg.create(svc(clusterIP="invalid", ports=[{"name": "INVALID", "port": 80}]))
    assert error_text(e.value) == (
        'spec.clusterIPs[0]: Invalid value: "invalid": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'
    )


# -- dual-stack cluster --------------------------------------------------------------------------


@pytest.fixture
def dual() -> MiniRegistry:
    r = MiniRegistry(ServiceStrategy(config=ServiceConfig(service_cidrs=("10.96.0.0/16", "fd00:10:96::/112")),
                                     rng=random.Random(5)))
    yield r
    check_accounting(r)


def test_service_dual_stack_prefer_gets_two_ips(dual):
    out = dual.create(svc(ipFamilyPolicy="PreferDualStack"))
    assert out["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    v4, v6 = out["spec"]["clusterIPs"]
    assert ipaddress.ip_address(v4).version == 4 and ipaddress.ip_address(v6).version == 6
    assert out["spec"]["clusterIP"] == v4


def test_service_dual_stack_specific_secondary(dual):
    out = dual.create(svc(clusterIP="fd00:10:96::a", clusterIPs=["fd00:10:96::a", "10.96.0.10"],
                          ipFamilyPolicy="RequireDualStack"))
    assert out["spec"]["ipFamilies"] == ["IPv6", "IPv4"]
    assert dual.s.cluster_ips.allocated() == {"fd00:10:96::a", "10.96.0.10"}


def test_service_dual_stack_partial_failure_gives_back_first_family(dual):
    dual.create(svc("a", clusterIP="10.96.0.10"))
    with pytest.raises(Invalid) as e:
        dual.create(svc("b", clusterIP="fd00:10:96::a", clusterIPs=["fd00:10:96::a", "10.96.0.10"],
                        ipFamilyPolicy="RequireDualStack"))
    assert "failed to allocate IP 10.96.0.10: provided IP is already allocated" in error_text(e.value)
    assert not dual.s.cluster_ips["IPv6"].has("fd00:10:96::a")


def test_service_dual_stack_upgrade_and_downgrade(dual):
    out = dual.create(svc())
    assert out["spec"]["ipFamilyPolicy"] == "SingleStack" and len(out["spec"]["clusterIPs"]) == 1
    out["spec"]["ipFamilyPolicy"] = "RequireDualStack"
    up = dual.update(out)
    assert up["spec"]["ipFamilies"] == ["IPv4", "IPv6"] and len(up["spec"]["clusterIPs"]) == 2
    check_accounting(dual)
    up["spec"]["ipFamilyPolicy"] = "SingleStack"
    down = dual.update(up)
    assert down["spec"]["ipFamilies"] == ["IPv4"] and down["spec"]["clusterIPs"] == [up["spec"]["clusterIPs"][0]]
    assert not dual.s.cluster_ips["IPv6"].has(up["spec"]["clusterIPs"][1])


def test_service_dual_stack_downgrade_needs_single_stack_a4(dual):
    out = dual.create(svc(ipFamilyPolicy="RequireDualStack"))
    out["spec"]["clusterIPs"] = out["spec"]["clusterIPs"][:1]
    with pytest.raises(Invalid) as e:
        dual.update(out)
    assert error_text(e.value) == (
        'spec.ipFamilyPolicy: Invalid value: "RequireDualStack": must be \'SingleStack\' to release the secondary cluster IP'
    )


def test_service_dual_stack_headless_selectorless(dual):
    out = dual.create(svc(clusterIP="None"))
    assert out["spec"]["ipFamilies"] == ["IPv4", "IPv6"] and out["spec"]["ipFamilyPolicy"] == "RequireDualStack"


# -- 7.25 updates --------------------------------------------------------------------------------


def test_service_update_cluster_ip_immutable_7_25(reg):
    reg.create(svc(clusterIP="10.96.5.5"))
    with pytest.raises(Invalid) as e:
        reg.update(svc(clusterIP="10.96.5.6"))
    assert error_text(e.value) == (
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.5.6"}: may not change once set'
    )
    assert reg.s.cluster_ips.allocated() == {"10.96.5.5"}


def test_service_update_resubmit_manifest_7_25(reg):
    manifest = svc(type="LoadBalancer", externalTrafficPolicy="Local",
                   ports=[{"name": "http", "port": 80}, {"name": "https", "port": 443}])
    first = reg.create(manifest)
    again = reg.update(manifest)  # no clusterIP, no nodePorts, no healthCheckNodePort
    assert again["spec"]["clusterIPs"] == first["spec"]["clusterIPs"]
    assert again["spec"]["ports"] == first["spec"]["ports"]
    assert again["spec"]["healthCheckNodePort"] == first["spec"]["healthCheckNodePort"]


def test_service_update_convert_to_external_name_7_25(reg):
    first = reg.create(svc(clusterIP="10.96.5.5"))
    out = reg.update({"metadata": {"name": "svc"}, "spec": {"type": "ExternalName", "externalName": "foo"}})
    assert "clusterIP" not in out["spec"] and "ipFamilies" not in out["spec"]
    assert "ipFamilyPolicy" not in out["spec"]
    assert not reg.s.cluster_ips["IPv4"].has(first["spec"]["clusterIP"])


def test_service_update_convert_to_external_name_resending_old_fields_7_25(reg):
    first = reg.create(svc(clusterIP="10.96.5.5"))
    obj = copy.deepcopy(first)
    obj["spec"]["type"] = "ExternalName"
    obj["spec"]["externalName"] = "foo"
    out = reg.update(obj)
    for k in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        assert k not in out["spec"]
    assert reg.s.cluster_ips.allocated() == set()


def test_service_update_to_external_name_old_client_resends_cluster_ip(reg):
    """normalizeClusterIPs restores clusterIPs from the old object, then the strategy wipes both
    (upstream runs dropTypeDependentFields after BeginUpdate)."""
    reg.create(svc(clusterIP="10.96.5.5"))
    out = reg.update({"metadata": {"name": "svc"},
                      "spec": {"type": "ExternalName", "externalName": "foo", "clusterIP": "10.96.5.5"}})
    assert "clusterIP" not in out["spec"] and "clusterIPs" not in out["spec"]
    assert reg.s.cluster_ips.allocated() == set()


def test_service_update_lb_class_immutable_7_25(reg):
    first = reg.create(svc(type="LoadBalancer", loadBalancerClass="a.com/x"))
    first["spec"]["loadBalancerClass"] = "b.com/y"
    with pytest.raises(Invalid) as e:
        reg.update(first)
    assert error_text(e.value) == 'spec.loadBalancerClass: Invalid value: "b.com/y": may not change once set'


# -- type changes --------------------------------------------------------------------------------


def test_service_update_cluster_ip_to_node_port_and_back(reg):
    c = reg.create(svc(ports=[{"name": "a", "port": 80}, {"name": "b", "port": 81}]))
    c["spec"]["type"] = "NodePort"
    n = reg.update(c)
    assert n["spec"]["clusterIP"] == c["spec"]["clusterIP"]
    nps = [p["nodePort"] for p in n["spec"]["ports"]]
    assert len(set(nps)) == 2 and n["spec"]["externalTrafficPolicy"] == "Cluster"
    check_accounting(reg)
    n["spec"]["type"] = "ClusterIP"  # nodePorts and ETP re-sent unchanged: wiped
    back = reg.update(n)
    assert all("nodePort" not in p for p in back["spec"]["ports"])
    assert "externalTrafficPolicy" not in back["spec"]
    assert reg.s.node_ports.used == 0


def test_service_update_node_port_to_cluster_ip_with_new_node_port_fails(reg):
    n = reg.create(svc(type="NodePort", ports=[{"port": 80, "nodePort": 30100}]))
    n["spec"]["type"] = "ClusterIP"
    n["spec"]["ports"][0]["nodePort"] = 30101  # a net-new number is not wiped: validation reports it
    with pytest.raises(Invalid) as e:
        reg.update(n)
    assert error_text(e.value) == "spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    assert reg.s.node_ports.allocated() == {30100}


def test_service_update_lb_local_to_cluster_ip_releases_everything(reg):
    lb = reg.create(svc(type="LoadBalancer", externalTrafficPolicy="Local", loadBalancerClass="a.com/x"))
    lb["spec"]["type"] = "ClusterIP"
    out = reg.update(lb)
    for k in ("healthCheckNodePort", "allocateLoadBalancerNodePorts", "loadBalancerClass", "externalTrafficPolicy"):
        assert k not in out["spec"], k
    assert reg.s.node_ports.used == 0
    assert out["spec"]["clusterIP"] == lb["spec"]["clusterIP"]


def test_service_update_lb_to_node_port_keeps_node_ports(reg):
    lb = reg.create(svc(type="LoadBalancer"))
    lb["spec"]["type"] = "NodePort"
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}  # ignored on the main endpoint
    out = reg.update(lb)
    assert out["spec"]["ports"][0]["nodePort"] == lb["spec"]["ports"][0]["nodePort"]
    assert "allocateLoadBalancerNodePorts" not in out["spec"]
    assert out["status"] == {"loadBalancer": {}}


def test_service_update_status_kept_from_old(reg):
    lb = reg.create(svc(type="LoadBalancer"))
    reg.store["svc"]["status"] = {"loadBalancer": {"ingress": [{"ip": "127.240.0.1", "ipMode": "VIP"}]}}
    lb["status"] = {}
    lb["spec"]["sessionAffinity"] = "ClientIP"
    out = reg.update(lb)
    assert out["status"] == {"loadBalancer": {"ingress": [{"ip": "127.240.0.1", "ipMode": "VIP"}]}}


def test_service_update_node_port_to_lb_and_etp_flips(reg):
    n = reg.create(svc(type="NodePort"))
    n["spec"]["type"] = "LoadBalancer"
    lb = reg.update(n)
    assert lb["spec"]["ports"][0]["nodePort"] == n["spec"]["ports"][0]["nodePort"]
    lb["spec"]["externalTrafficPolicy"] = "Local"
    local = reg.update(lb)
    hc = local["spec"]["healthCheckNodePort"]
    assert reg.s.node_ports.has(hc)
    check_accounting(reg)
    local["spec"]["healthCheckNodePort"] = hc + 1 if hc < 32767 else hc - 1
    with pytest.raises(Invalid) as e:
        reg.update(local)
    assert error_text(e.value) == "spec.healthCheckNodePort: Forbidden: field is immutable"
    local["spec"]["healthCheckNodePort"] = hc
    local["spec"]["externalTrafficPolicy"] = "Cluster"
    cluster = reg.update(local)
    assert "healthCheckNodePort" not in cluster["spec"]
    assert not reg.s.node_ports.has(hc)


def test_service_update_etp_local_with_requested_hcnp(reg):
    lb = reg.create(svc(type="LoadBalancer"))
    lb["spec"]["externalTrafficPolicy"] = "Local"
    lb["spec"]["healthCheckNodePort"] = 30777
    out = reg.update(lb)
    assert out["spec"]["healthCheckNodePort"] == 30777 and reg.s.node_ports.has(30777)


def test_service_update_to_external_name_and_back_allocates_fresh(reg):
    n = reg.create(svc(type="NodePort", ports=[{"port": 80, "nodePort": 30100}]))
    e = reg.update({"metadata": {"name": "svc"}, "spec": {"type": "ExternalName", "externalName": "x.example.com"}})
    assert reg.s.node_ports.used == 0 and reg.s.cluster_ips.allocated() == set()
    assert "ports" not in e["spec"] or all("nodePort" not in p for p in e["spec"]["ports"])
    back = reg.update(svc(type="NodePort", ports=[{"port": 80, "nodePort": 30100}]))
    assert back["spec"]["clusterIP"] and back["spec"]["ports"][0]["nodePort"] == 30100
    assert n["metadata"]["name"] == back["metadata"]["name"]


def test_service_update_external_name_to_headless(reg):
    reg.create({"metadata": {"name": "svc"}, "spec": {"type": "ExternalName", "externalName": "foo"}})
    out = reg.update(svc(clusterIP="None", selector={"a": "b"}))
    assert out["spec"]["clusterIPs"] == ["None"] and reg.s.cluster_ips.allocated() == set()


def test_service_update_headless_to_external_name(reg):
    h = reg.create(svc(clusterIP="None", selector={"a": "b"}))
    h["spec"]["type"] = "ExternalName"
    h["spec"]["externalName"] = "foo"
    out = reg.update(h)
    assert "clusterIPs" not in out["spec"]


def test_service_update_external_name_stale_node_ports_are_reallocated(reg):
    """Deviation from upstream: numbers an ExternalName Service carries are not 'held'."""
    reg.create(svc(type="NodePort", ports=[{"port": 80, "nodePort": 30100}]))
    e = reg.get("svc")
    e["spec"] = {"type": "ExternalName", "externalName": "foo", "ports": [{"port": 80, "nodePort": 30200}]}
    reg.update(e)  # 30200 is a changed value, so it is not wiped; validation allows it
    assert reg.s.node_ports.used == 0
    reg.create(svc("other", type="NodePort", ports=[{"port": 80, "nodePort": 30200}]))
    e = reg.get("svc")
    e["spec"]["type"] = "NodePort"
    with pytest.raises(Invalid) as err:
        reg.update(e)  # upstream would let both Services hold 30200
    assert "provided port is already allocated" in error_text(err.value).replace('Service "svc" is invalid: ', "")
    reg.delete("svc")  # does not release 30200, which belongs to "other"
    assert reg.s.node_ports.allocated() == {30200}


# -- ports ---------------------------------------------------------------------------------------


def test_service_update_add_and_remove_ports(reg):
    n = reg.create(svc(type="NodePort", ports=[{"name": "a", "port": 80}, {"name": "b", "port": 81}]))
    a, b = (p["nodePort"] for p in n["spec"]["ports"])
    # drop "a", add "c", resend without nodePorts: "b" keeps its number by name
    out = reg.update(svc(type="NodePort", ports=[{"name": "b", "port": 81}, {"name": "c", "port": 82}]))
    nb, nc = (p["nodePort"] for p in out["spec"]["ports"])
    assert nb == b and nc not in (a, b)
    assert reg.s.node_ports.allocated() == {b, nc}


def test_service_update_patch_skips_number_used_by_another_port(reg):
    reg.create(svc(type="NodePort", ports=[{"name": "a", "port": 80, "nodePort": 30100},
                                           {"name": "b", "port": 81, "nodePort": 30101}]))
    out = reg.update(svc(type="NodePort", ports=[{"name": "a", "port": 80},
                                                 {"name": "b", "port": 81, "nodePort": 30100}]))
    a, b = (p["nodePort"] for p in out["spec"]["ports"])
    assert b == 30100 and a not in (30100, 30101)
    assert reg.s.node_ports.allocated() == {a, 30100}


def test_service_update_node_port_change_and_conflict(reg):
    reg.create(svc("other", type="NodePort", ports=[{"port": 80, "nodePort": 30200}]))
    n = reg.create(svc(type="NodePort", ports=[{"port": 80, "nodePort": 30100}]))
    n["spec"]["ports"][0]["nodePort"] = 30200
    with pytest.raises(Invalid) as e:
        reg.update(n)
    assert error_text(e.value) == "spec.ports[0].nodePort: Invalid value: 30200: provided port is already allocated"
    n["spec"]["ports"][0]["nodePort"] = 30300
    reg.update(n)
    assert reg.s.node_ports.allocated() == {30200, 30300}


def test_service_update_duplicate_node_port_same_protocol_is_500(reg):
    reg.create(svc(type="NodePort", ports=[{"name": "a", "port": 80, "nodePort": 30100}]))
    with pytest.raises(APIError) as e:
        reg.update(svc(type="NodePort", ports=[{"name": "a", "port": 80, "nodePort": 30100},
                                               {"name": "b", "port": 81, "nodePort": 30100}]))
    assert e.value.code == 500 and e.value.status["message"] == "duplicate nodePort: {TCP 30100}"


def test_service_update_lb_allocate_node_ports_flag(reg):
    lb = reg.create(svc(type="LoadBalancer", ports=[{"name": "a", "port": 80}]))
    np_ = lb["spec"]["ports"][0]["nodePort"]
    lb["spec"]["allocateLoadBalancerNodePorts"] = False
    off = reg.update(lb)  # true -> false keeps existing nodePorts
    assert off["spec"]["ports"][0]["nodePort"] == np_
    off["spec"]["ports"][0].pop("nodePort")
    off["spec"]["ports"].append({"name": "b", "port": 81})
    still = reg.update(off)  # omitted -> patched back by name; "b" gets none
    assert still["spec"]["ports"][0]["nodePort"] == np_ and "nodePort" not in still["spec"]["ports"][1]
    still["spec"]["allocateLoadBalancerNodePorts"] = True
    on = reg.update(still)
    assert on["spec"]["ports"][1]["nodePort"] and reg.s.node_ports.used == 2


def test_service_update_dry_run_takes_and_releases_nothing(reg):
    n = reg.create(svc(type="NodePort", ports=[{"port": 80, "nodePort": 30100}]))
    n["spec"]["ports"][0]["nodePort"] = 30101
    reg.update(n, dry_run=True)
    assert reg.s.node_ports.allocated() == {30100}
    reg.update({"metadata": {"name": "svc"}, "spec": {"type": "ExternalName", "externalName": "foo"}}, dry_run=True)
    assert reg.s.node_ports.allocated() == {30100} and len(reg.s.cluster_ips.allocated()) == 1


def test_service_update_store_failure_reverts_and_keeps_old(reg):
    n = reg.create(svc(type="NodePort", ports=[{"port": 80, "nodePort": 30100}]))
    n["spec"]["ports"][0]["nodePort"] = 30101
    with pytest.raises(RuntimeError):
        reg.update(n, fail_store=True)
    assert reg.s.node_ports.allocated() == {30100}


# -- delete / repair -----------------------------------------------------------------------------


def test_service_delete_releases_everything(reg):
    reg.create(svc("a", type="LoadBalancer", externalTrafficPolicy="Local",
                   ports=[{"name": "t", "port": 53, "protocol": "TCP"}, {"name": "u", "port": 53, "protocol": "UDP"}]))
    reg.create(svc("b", clusterIP="None", selector={"x": "y"}))
    reg.create({"metadata": {"name": "c"}, "spec": {"type": "ExternalName", "externalName": "foo"}})
    assert reg.s.node_ports.used == 2 and len(reg.s.cluster_ips.allocated()) == 1
    for name in ("a", "b", "c"):
        reg.delete(name)
    assert reg.s.node_ports.used == 0 and reg.s.cluster_ips.allocated() == set()


def test_service_repair_rebuilds_and_reports():
    s = ServiceStrategy(config=ServiceConfig())
    ok = {"metadata": {"namespace": "default", "name": "ok"},
          "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Local", "clusterIP": "10.96.0.10",
                   "clusterIPs": ["10.96.0.10"], "healthCheckNodePort": 30300,
                   "ports": [{"port": 53, "protocol": "TCP", "nodePort": 30053},
                             {"port": 53, "protocol": "UDP", "nodePort": 30053}]}}
    dup = {"metadata": {"namespace": "ns", "name": "dup"},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "ports": [{"port": 1, "nodePort": 30053}]}}
    out = {"metadata": {"namespace": "ns", "name": "out"},
           "spec": {"type": "NodePort", "clusterIPs": ["192.168.0.1"], "ports": [{"port": 1, "nodePort": 80}]}}
    ext = {"metadata": {"namespace": "ns", "name": "ext"},
           "spec": {"type": "ExternalName", "externalName": "x", "ports": [{"port": 1, "nodePort": 30999}]}}
    s.node_ports.allocate(31000)  # stale state from before: repair rebuilds from scratch
    problems = s.repair([ok, dup, out, ext])
    assert s.cluster_ips.allocated() == {"10.96.0.10"}
    assert s.node_ports.allocated() == {30053, 30300}
    assert problems == [
        "the cluster IP 10.96.0.10 for service ns/dup was assigned to multiple services; please recreate",
        "the node port 30053 for service ns/dup was assigned to multiple services; please recreate",
        "the cluster IP 192.168.0.1 for service ns/out is not within the service CIDR 10.96.0.0/12; please recreate",
        "the node port 80 for service ns/out is not within the port range 30000-32767; please recreate",
    ]


# -- pure pieces -----------------------------------------------------------------------------------


def _pair(old_spec, new_spec):
    old = {"spec": old_spec, "status": {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}}}
    new = {"spec": copy.deepcopy(new_spec), "status": copy.deepcopy(old["status"])}
    drop_type_dependent_fields(new, old)
    return new


LB_LOCAL = {"type": "LoadBalancer", "clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack", "externalTrafficPolicy": "Local", "healthCheckNodePort": 30300,
            "allocateLoadBalancerNodePorts": True, "loadBalancerClass": "a.com/x",
            "ports": [{"port": 80, "nodePort": 30080}]}


@pytest.mark.parametrize(
    "change,gone,kept",
    [
        ({"type": "ClusterIP"}, ["healthCheckNodePort", "allocateLoadBalancerNodePorts", "loadBalancerClass",
                                 "externalTrafficPolicy", "ports[0].nodePort"], ["clusterIP", "ipFamilies"]),
        ({"type": "ExternalName"}, ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "ports[0].nodePort"], []),
        ({"type": "NodePort"}, ["healthCheckNodePort", "allocateLoadBalancerNodePorts", "loadBalancerClass"],
         ["externalTrafficPolicy", "ports[0].nodePort"]),
        ({"type": "LoadBalancer", "externalTrafficPolicy": "Cluster"}, ["healthCheckNodePort"],
         ["loadBalancerClass", "ports[0].nodePort"]),
        ({"type": "ClusterIP", "healthCheckNodePort": 30301, "allocateLoadBalancerNodePorts": False,
          "loadBalancerClass": "b.com/y", "externalTrafficPolicy": "Cluster"},
         ["ports[0].nodePort"], ["healthCheckNodePort", "allocateLoadBalancerNodePorts", "loadBalancerClass",
                                 "externalTrafficPolicy"]),
        ({"type": "ExternalName", "clusterIP": "", "clusterIPs": [], "ipFamilyPolicy": "PreferDualStack"},
         ["clusterIPs", "ipFamilies"], ["ipFamilyPolicy"]),
        ({"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30081}]}, [], ["ports[0].nodePort"]),
    ],
    ids=["to-clusterip", "to-externalname", "to-nodeport", "etp-to-cluster", "user-changed-kept",
         "externalname-policy-changed", "new-nodeport-kept"],
)
def test_drop_type_dependent_fields_table(change, gone, kept):
    new = _pair(LB_LOCAL, {**LB_LOCAL, **change})

    def has(path: str) -> bool:
        if path == "ports[0].nodePort":
            return bool(new["spec"]["ports"][0].get("nodePort"))
        v = new["spec"].get(path)
        return v is not None and v != "" and v != [] and not (type(v) is int and v == 0)

    for f in gone:
        assert not has(f), f
    for f in kept:
        assert has(f), f
    lb = new["spec"]["type"] == "LoadBalancer"
    assert (new["status"]["loadBalancer"] != {}) is lb


def test_service_config_local_mode():
    cfg = ServiceConfig(service_cidrs=["127.96.0.0/16"], node_port_range="30000-32767")
    assert cfg.service_cidrs == ("127.96.0.0/16",) and cfg.node_port_range == (30000, 32767)
    assert kubernetes_service_ip("127.96.0.0/16") == "127.96.0.1"
    assert kubernetes_service_ip("fd00:10:96::/112") == "fd00:10:96::1"
    s = ServiceStrategy(None, cfg)
    assert s.resource.name == "services" and s.cluster_ips.primary_family == "IPv4"
