"""Properties of allocation: nothing is handed out twice, nothing leaks.

(a) stateful models of the ClusterIP and NodePort allocators (and the port operation) over small
    ranges: the allocator's used set always equals the model's, allocate_next never returns a
    taken value, "range is full" exactly when the model is full, dry runs change nothing;
(b) ~10,000 random create/update/delete operations on Services through ServiceStrategy, in the
    registry's hook order (random types incl. ExternalName and headless, random ports, specific
    IPs and nodePorts, type and ETP changes, validation failures, dry runs, store failures): after
    every step the allocators hold exactly what the stored Services hold, and after deleting
    everything every allocator is empty.
"""

from __future__ import annotations

import copy
import ipaddress
import random

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from svcnet.api.errors import APIError
from svcnet.controllers.ipalloc import (
    AlreadyAllocatedError,
    CIDRAllocator,
    NotInRangeError,
    RangeFullError,
)
from svcnet.controllers.portalloc import PortAllocationOperation, PortAllocator

# -- (a) allocators --------------------------------------------------------------------------------


class CIDRAllocatorMachine(RuleBasedStateMachine):
    """A CIDRAllocator against a set model."""

    @initialize(cidr=st.sampled_from(["10.0.0.0/29", "10.0.0.0/28", "10.0.0.0/27", "fd00::/123"]),
                seed=st.integers(0, 2**32 - 1))
    def setup(self, cidr, seed):
        self.a = CIDRAllocator(cidr, rng=random.Random(seed))
        self.net = ipaddress.ip_network(cidr)
        self.model: set[str] = set()

    def _ip(self, i: int) -> str:
        # indexes past the allocatable range exercise network/broadcast/out-of-range handling
        return str(self.net.network_address + (i % (self.net.num_addresses + 2)))

    @rule(i=st.integers(0, 40))
    def allocate(self, i):
        ip = self._ip(i)
        try:
            self.a.allocate(ip)
        except AlreadyAllocatedError:
            assert ip in self.model
        except NotInRangeError:
            assert not self.a.contains(ip)
        else:
            assert ip not in self.model
            self.model.add(ip)

    @rule()
    def allocate_next(self):
        try:
            ip = self.a.allocate_next()
        except RangeFullError:
            assert len(self.model) == self.a.max
        else:
            assert ip not in self.model and self.a.contains(ip)
            lo, _hi = self.a.dynamic_band
            # the static band is used only once the dynamic band is exhausted
            if ipaddress.ip_address(ip) < ipaddress.ip_address(lo):
                dyn = self.a.max - self.a.offset
                assert sum(ipaddress.ip_address(m) >= ipaddress.ip_address(lo) for m in self.model) == dyn
            self.model.add(ip)

    @rule(i=st.integers(0, 40))
    def release(self, i):
        ip = self._ip(i)
        self.a.release(ip)
        self.model.discard(ip)

    @rule(i=st.integers(0, 40))
    def dry_run(self, i):
        d = self.a.dry_run()
        assert d.allocate_next() == str(self.net.network_address)
        try:
            d.allocate(self._ip(i))
        except NotInRangeError:
            pass

    @invariant()
    def matches_model(self):
        if hasattr(self, "a"):
            assert self.a.allocated() == self.model
            assert self.a.used == len(self.model) and self.a.free == self.a.max - len(self.model)


class PortAllocatorMachine(RuleBasedStateMachine):
    """A PortAllocator plus allocation operations against a set model."""

    def __init__(self):
        super().__init__()
        self.op: PortAllocationOperation | None = None
        self.op_taken: set[int] = set()
        self.op_release: set[int] = set()

    @initialize(rng_=st.sampled_from([(30000, 30007), (30000, 30015), (30000, 30040)]),
                seed=st.integers(0, 2**32 - 1))
    def setup(self, rng_, seed):
        self.p = PortAllocator(rng_, rng=random.Random(seed))
        self.lo, self.hi = rng_
        self.model: set[int] = set()

    ports = st.integers(29995, 30045)

    @rule(port=ports)
    def allocate(self, port):
        try:
            self.p.allocate(port)
        except AlreadyAllocatedError:
            assert port in self.model
        except NotInRangeError:
            assert not self.lo <= port <= self.hi
        else:
            assert port not in self.model
            self.model.add(port)

    @rule()
    def allocate_next(self):
        try:
            port = self.p.allocate_next()
        except RangeFullError:
            assert len(self.model) == self.p.size
        else:
            assert port not in self.model
            self.model.add(port)

    @rule(port=ports)
    def release(self, port):
        if port in self.op_release or port in self.op_taken:
            return  # owned by the open operation
        self.p.release(port)
        self.model.discard(port)

    @precondition(lambda self: self.op is None)
    @rule(dry=st.booleans())
    def begin(self, dry):
        self.op = PortAllocationOperation(self.p, dry_run=dry)
        self.op_taken, self.op_release = set(), set()

    @precondition(lambda self: self.op is not None)
    @rule(port=ports)
    def op_allocate(self, port):
        try:
            self.op.allocate(port)
        except (AlreadyAllocatedError, NotInRangeError):
            return
        if not self.op.dry_run:
            assert port not in self.model
            self.model.add(port)
            self.op_taken.add(port)

    @precondition(lambda self: self.op is not None)
    @rule()
    def op_allocate_next(self):
        try:
            port = self.op.allocate_next()
        except RangeFullError:
            assert len(self.model) == self.p.size
            return
        if not self.op.dry_run:
            assert port not in self.model
            self.model.add(port)
            self.op_taken.add(port)

    @precondition(lambda self: self.op is not None)
    @rule(port=ports)
    def op_release_deferred(self, port):
        if port in self.model and port not in self.op_taken:
            self.op.release_deferred_port(port)
            if not self.op.dry_run:
                self.op_release.add(port)

    @precondition(lambda self: self.op is not None)
    @rule(commit=st.booleans())
    def end(self, commit):
        if commit:
            self.op.commit()
            self.model -= self.op_release
        else:
            self.op.finish()
            self.model -= self.op_taken
        self.op.finish()  # a second finish is harmless
        self.op = None
        self.op_taken, self.op_release = set(), set()

    @invariant()
    def matches_model(self):
        if hasattr(self, "p"):
            assert self.p.allocated() == self.model
            assert self.p.used == len(self.model)


TestCIDRAllocatorMachine = CIDRAllocatorMachine.TestCase
TestCIDRAllocatorMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
TestPortAllocatorMachine = PortAllocatorMachine.TestCase
TestPortAllocatorMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


# -- (b) Services through the strategy ---------------------------------------------------------------

try:
    from svcnet.api.defaults import apply_defaults
except ImportError:  # being written in parallel; (b) needs it
    apply_defaults = None

from svcnet.apiserver.service_alloc import (  # noqa: E402
    held_cluster_ips,
    held_health_check_node_port,
    held_node_ports,
)
from svcnet.apiserver.services import ServiceConfig, ServiceStrategy  # noqa: E402

NAMES = ["a", "b", "c", "d", "e", "f", "g", "h"]
V4 = ["10.0.0.1", "10.0.0.5", "10.0.0.20", "10.0.0.31", "10.0.1.1", "garbage"]
V6 = ["fd00::3", "fd00::1f", "fd00::ffff"]
NODE_PORTS = [None, None, None, 30000, 30001, 30016, 30031, 1, 40000]


def _opt(d: dict, key: str, value) -> None:
    if value is not None:
        d[key] = value


@st.composite
def port_lists(draw):
    out = []
    for _ in range(draw(st.integers(0, 3))):
        p = {"port": draw(st.sampled_from([53, 80, 81]))}
        _opt(p, "name", draw(st.sampled_from([None, "a", "b", "c"])))
        _opt(p, "protocol", draw(st.sampled_from([None, "TCP", "UDP"])))
        _opt(p, "nodePort", draw(st.sampled_from(NODE_PORTS)))
        out.append(p)
    return out


@st.composite
def wild_specs(draw):
    """Anything goes: most of these fail in allocation or validation."""
    spec: dict = {}
    t = draw(st.sampled_from([None, "ClusterIP", "NodePort", "LoadBalancer", "LoadBalancer", "ExternalName"]))
    _opt(spec, "type", t)
    ports = draw(port_lists())
    if ports or draw(st.booleans()):
        spec["ports"] = ports
    cip = draw(st.sampled_from([None, None, None, "None", *V4, *V6]))
    if cip is not None:
        spec["clusterIP"] = cip
        if draw(st.integers(0, 4)) == 0:
            spec["clusterIPs"] = [cip, *draw(st.sampled_from([[], [V6[0]], [V4[1]]]))]
    _opt(spec, "ipFamilyPolicy", draw(st.sampled_from([None, None, "SingleStack", "PreferDualStack", "RequireDualStack"])))
    if draw(st.integers(0, 5)) == 0:
        spec["ipFamilies"] = draw(st.sampled_from([["IPv4"], ["IPv6"], ["IPv4", "IPv6"]]))
    _opt(spec, "externalTrafficPolicy", draw(st.sampled_from([None, None, "Cluster", "Local"])))
    _opt(spec, "healthCheckNodePort", draw(st.sampled_from([None, None, None, 30002, 30020, -1])))
    _opt(spec, "allocateLoadBalancerNodePorts", draw(st.sampled_from([None, None, True, False])))
    if t == "ExternalName" and draw(st.integers(0, 5)) > 0:
        spec["externalName"] = "foo.example.com"
    if draw(st.booleans()):
        spec["selector"] = {"app": "x"}
    return spec


VALID_PORT_SETS = [
    [{"port": 80}],
    [{"name": "a", "port": 80}],
    [{"name": "a", "port": 80}, {"name": "b", "port": 81}],
    [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}],
    [{"name": "a", "port": 80}, {"name": "b", "port": 443}, {"name": "c", "port": 8080}],
]


@st.composite
def valid_specs(draw):
    """Mostly-valid manifests of every type (they may still collide with other Services)."""
    t = draw(st.sampled_from([None, "ClusterIP", "NodePort", "LoadBalancer", "LoadBalancer", "ExternalName"]))
    spec: dict = {}
    _opt(spec, "type", t)
    ports = copy.deepcopy(draw(st.sampled_from(VALID_PORT_SETS)))
    if t == "ExternalName":
        spec["externalName"] = "foo.example.com"
        if draw(st.booleans()):
            spec["ports"] = ports
            for p in ports:  # validation lets an ExternalName Service carry nodePorts
                _opt(p, "nodePort", draw(st.sampled_from([None, None, 30000, 30001])))
        return spec
    spec["ports"] = ports
    if draw(st.booleans()):
        spec["selector"] = {"app": "x"}
    if t in (None, "ClusterIP"):
        cip = draw(st.sampled_from([None, None, None, None, "None", "10.0.0.5", "10.0.0.20"]))
        _opt(spec, "clusterIP", cip)
    else:
        _opt(spec, "clusterIP", draw(st.sampled_from([None, None, None, None, "10.0.0.5", "10.0.0.20"])))
        for p in ports:
            _opt(p, "nodePort", draw(st.sampled_from([None, None, None, 30000, 30001, 30016, 30031])))
        _opt(spec, "externalTrafficPolicy", draw(st.sampled_from([None, "Cluster", "Local"])))
    if t == "LoadBalancer":
        _opt(spec, "allocateLoadBalancerNodePorts", draw(st.sampled_from([None, None, True, False])))
        if spec.get("externalTrafficPolicy") == "Local":
            _opt(spec, "healthCheckNodePort", draw(st.sampled_from([None, None, 30002, 30020])))
    _opt(spec, "ipFamilyPolicy", draw(st.sampled_from([None, None, None, "PreferDualStack", "RequireDualStack"])))
    return spec


def service_specs():
    return st.one_of(valid_specs(), valid_specs(), valid_specs(), wild_specs())


MUTATIONS = ["type", "etp", "drop-node-ports", "add-port", "remove-port", "hcnp", "cluster-ip", "alloc-flag", "noop"]


class ServiceLifecycle(RuleBasedStateMachine):
    """Create/update/delete Services in the registry's hook order over a dict store."""

    @initialize(dual=st.booleans(), small=st.booleans(), seed=st.integers(0, 2**32 - 1))
    def setup(self, dual, seed, small=False):
        # "small" ranges fill up, so "range is full" (500) paths run too
        v4 = "10.0.0.0/29" if small else "10.0.0.0/27"
        cidrs = (v4, "fd00::/123") if dual else (v4,)
        ports = (30000, 30009) if small else (30000, 30031)
        self.s = ServiceStrategy(config=ServiceConfig(service_cidrs=cidrs, node_port_range=ports),
                                 rng=random.Random(seed))
        self.store: dict[str, dict] = {}

    # the registry's pipeline ------------------------------------------------------------------

    def _create(self, name: str, spec: dict, dry_run: bool, fail_store: bool) -> None:
        obj = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": name, "namespace": "default"}, "spec": copy.deepcopy(spec)}
        apply_defaults(obj)
        self.s.prepare_for_create(obj)
        try:
            txn = self.s.begin_create(obj, dry_run=dry_run)
        except APIError:
            return
        try:
            errs = self.s.validate(obj)
            if errs or dry_run or fail_store or name in self.store:
                txn.revert()
                return
        except BaseException:
            txn.revert()
            raise
        self.store[name] = obj
        txn.commit()

    def _update(self, name: str, obj: dict, dry_run: bool, fail_store: bool) -> None:
        old = self.store[name]
        obj = copy.deepcopy(obj)
        apply_defaults(obj)
        self.s.prepare_for_update(obj, old)
        try:
            txn = self.s.begin_update(obj, old, dry_run=dry_run)
        except APIError:
            return
        try:
            errs = self.s.validate_update(obj, old)
            if errs or dry_run or fail_store:
                txn.revert()
                return
        except BaseException:
            txn.revert()
            raise
        self.store[name] = obj
        txn.commit()

    # rules -------------------------------------------------------------------------------------

    @rule(data=st.data(), spec=service_specs(),
          dry_run=st.integers(0, 9).map(lambda x: x == 0), fail_store=st.integers(0, 14).map(lambda x: x == 0))
    def create(self, data, spec, dry_run, fail_store):
        free = [n for n in NAMES if n not in self.store]
        name = data.draw(st.sampled_from(free if free and data.draw(st.integers(0, 9)) else NAMES))
        self._create(name, spec, dry_run, fail_store)

    # a second create rule: rules are picked uniformly, and full ranges need a fuller store
    create_more = create

    @precondition(lambda self: bool(self.store))
    @rule(data=st.data(), spec=service_specs(),
          dry_run=st.integers(0, 9).map(lambda x: x == 0), fail_store=st.integers(0, 14).map(lambda x: x == 0))
    def replace(self, data, spec, dry_run, fail_store):
        """A PUT of a fresh manifest (allocated values omitted)."""
        name = data.draw(st.sampled_from(sorted(self.store)))
        self._update(name, {"apiVersion": "v1", "kind": "Service",
                            "metadata": {"name": name, "namespace": "default"}, "spec": spec}, dry_run, fail_store)

    @precondition(lambda self: bool(self.store))
    @rule(data=st.data(), what=st.sampled_from(MUTATIONS), dry_run=st.integers(0, 9).map(lambda x: x == 0))
    def mutate(self, data, what, dry_run):
        """A read-modify-write of the stored object (allocated values included)."""
        name = data.draw(st.sampled_from(sorted(self.store)))
        obj = copy.deepcopy(self.store[name])
        spec = obj["spec"]
        if what == "type":
            spec["type"] = data.draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]))
            if spec["type"] == "ExternalName":
                spec.setdefault("externalName", "bar.example.com")
        elif what == "etp":
            spec["externalTrafficPolicy"] = data.draw(st.sampled_from(["Cluster", "Local"]))
        elif what == "drop-node-ports":
            for p in spec.get("ports") or []:
                p.pop("nodePort", None)
            spec.pop("healthCheckNodePort", None)
        elif what == "add-port":
            spec.setdefault("ports", []).append(data.draw(port_lists().filter(bool))[0])
        elif what == "remove-port" and spec.get("ports"):
            spec["ports"].pop(data.draw(st.integers(0, len(spec["ports"]) - 1)))
        elif what == "hcnp":
            spec["healthCheckNodePort"] = data.draw(st.sampled_from([30003, 30021, 0]))
        elif what == "cluster-ip":
            ip = data.draw(st.sampled_from(["", "None", *V4[:4]]))
            spec["clusterIP"] = ip
            if data.draw(st.booleans()):
                spec.pop("clusterIPs", None)
        elif what == "alloc-flag":
            spec["allocateLoadBalancerNodePorts"] = data.draw(st.booleans())
        self._update(name, obj, dry_run, False)

    @precondition(lambda self: bool(self.store))
    @rule(data=st.data())
    def delete(self, data):
        name = data.draw(st.sampled_from(sorted(self.store)))
        self.s.after_delete(self.store.pop(name))

    # checks -------------------------------------------------------------------------------------

    @invariant()
    def allocators_match_services(self):
        if not hasattr(self, "s"):
            return
        ips: list[str] = []
        ports: list[int] = []
        for svc in self.store.values():
            ips += [str(ipaddress.ip_address(ip)) for ip in held_cluster_ips(svc)]
            ports += held_node_ports(svc)
            if hc := held_health_check_node_port(svc):
                ports.append(hc)
        assert len(ips) == len(set(ips)), f"ClusterIP handed out twice: {sorted(ips)}"
        assert len(ports) == len(set(ports)), f"nodePort handed out twice: {sorted(ports)}"
        assert self.s.cluster_ips.allocated() == set(ips)
        assert self.s.node_ports.allocated() == set(ports)

    def teardown(self):
        if not hasattr(self, "s"):
            return
        for name in list(self.store):
            self.s.after_delete(self.store.pop(name))
        assert self.s.cluster_ips.allocated() == set(), "leaked ClusterIPs"
        assert self.s.node_ports.allocated() == set(), "leaked nodePorts"
        # and a restart rebuilds nothing from an empty store
        assert self.s.repair([]) == []


# 200 examples x up to 60 steps: about 10,000 create/update/delete operations per run
TestServiceLifecycle = pytest.mark.slow(
    pytest.mark.skipif(apply_defaults is None, reason="svcnet.api.defaults not available")(ServiceLifecycle.TestCase)
)
TestServiceLifecycle.settings = settings(
    max_examples=200,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.mark.skipif(apply_defaults is None, reason="svcnet.api.defaults not available")
def test_service_lifecycle_repair_matches_live_state():
    """Repair from the store after a random history reproduces the allocators exactly."""
    m = ServiceLifecycle()
    m.setup(dual=False, seed=7)
    rnd = random.Random(11)
    for i in range(300):
        name = rnd.choice(NAMES)
        spec = {"type": rnd.choice(["ClusterIP", "NodePort", "LoadBalancer"]),
                "ports": [{"name": "p", "port": rnd.choice([53, 80])}]}
        if spec["type"] == "LoadBalancer" and rnd.random() < 0.5:
            spec["externalTrafficPolicy"] = "Local"
        if name in m.store and rnd.random() < 0.5:
            m.s.after_delete(m.store.pop(name))
        elif name in m.store:
            m._update(name, {"metadata": {"name": name, "namespace": "default"}, "spec": spec}, False, False)
        else:
            m._create(name, spec, False, False)
        m.allocators_match_services()
    ips, ports = m.s.cluster_ips.allocated(), m.s.node_ports.allocated()
    fresh = ServiceStrategy(config=m.s.config)
    assert fresh.repair(list(m.store.values())) == []
    assert fresh.cluster_ips.allocated() == ips and fresh.node_ports.allocated() == ports
