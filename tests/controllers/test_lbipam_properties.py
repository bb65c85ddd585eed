"""Properties of the LoadBalancer IP pool (service-api.md section 6): nothing is handed out twice,
nothing leaks, exhaustion is reported and retried.

A RuleBasedStateMachine drives the real :class:`LoadBalancerIPController` the way
``tests/controllers/test_lbipam.py`` does (the pure shell, one Service event at a time) and the way
``svcnet.controllers.lbcontroller`` wires it: every create/update is an ``on_upsert`` whose status
patch is written back (the apiserver keeps ``status`` across spec updates and clears
``status.loadBalancer`` when the type stops being LoadBalancer); the status write is itself an
update event; a delete is ``on_delete`` followed by a re-sync of every LoadBalancer Service (the
driver's retry). Services switch between ClusterIP, NodePort, LoadBalancer and ExternalName,
request addresses (``spec.loadBalancerIP`` and the three request annotations, valid, invalid,
outside every pool, "buggy" ``.0``/``.255``, two per family, non-canonical IPv6), name pools
(existing, manual, missing), change ``loadBalancerClass`` (nil, ours, foreign) and IP families; the
pools are tiny so they run out. A foreign controller may write the status of foreign-class
Services, and the controller may restart (``resync``).

After every step: no address belongs to two Services; every held address is a usable address of a
configured pool; the pool's used set is exactly the union of the addresses the managed Services'
statuses record (nothing held by deleted, non-LoadBalancer or foreign Services); each decision
matches an independent model (requested address granted iff valid, in a pool and free; otherwise
kept or the lowest free address of the first eligible pool; pending with an event only when the
model has nothing free).
"""

from __future__ import annotations

import copy
import ipaddress

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from svcnet.controllers.lbipam import LB_CLASS, LBIPAM, LBPool, LoadBalancerIPController, plan

FOREIGN = "example.com/other-lb"
REQUEST_ANNS = ("svcnet.io/loadBalancerIPs", "metallb.universe.tf/loadBalancerIPs", "metallb.io/loadBalancerIPs")
POOL_ANNS = ("svcnet.io/address-pool", "metallb.universe.tf/address-pool", "metallb.io/address-pool")

POOL_SETS: dict[str, list[LBPool]] = {
    # two addresses: exhausted by the third LoadBalancer
    "tiny": [LBPool(name="a", addresses=("10.0.0.1-10.0.0.2",))],
    # two auto pools in order; b skips 10.0.1.0 (buggy)
    "two": [
        LBPool(name="a", addresses=("10.0.0.1",)),
        LBPool(name="b", addresses=("10.0.1.0/30",), avoid_buggy_ips=True),
    ],
    # a manual pool first (only on request / by name), then a dual-stack auto pool
    "manual+v6": [
        LBPool(name="m", addresses=("10.0.2.5-10.0.2.6",), auto_assign=False),
        LBPool(name="a", addresses=("10.0.0.1", "fd00::1-fd00::2")),
    ],
    # a range crossing .255/.0 with avoid_buggy_ips: 10.0.0.254 and 10.0.1.1 only
    "buggy": [LBPool(name="a", addresses=("10.0.0.254-10.0.1.1",), avoid_buggy_ips=True)],
}

NAMES = [("default", "a"), ("default", "b"), ("default", "c"), ("other", "a"), ("other", "d")]
REQUESTS = [
    "10.0.0.1", "10.0.0.2", "10.0.0.254", "10.0.1.1", "10.0.1.2", "10.0.2.5", "10.0.2.6",
    "10.0.1.0",  # in b's CIDR but buggy: not usable
    "10.0.0.255",  # buggy
    "10.9.9.9",  # outside every pool
    "fd00::2", "fd00:0:0::1",  # the latter non-canonical
    "not-an-ip",
    "10.0.0.1,fd00::2", " 10.0.2.6 , fd00::1 ",  # one per family
    "10.0.0.1,10.0.0.2",  # two of one family
]
FAMILIES = [
    (None, None),
    (["IPv4"], "SingleStack"),
    (["IPv6"], "SingleStack"),
    (["IPv4", "IPv6"], "PreferDualStack"),
    (["IPv6", "IPv4"], "PreferDualStack"),
    (["IPv4", "IPv6"], "RequireDualStack"),
]


@st.composite
def service_specs(draw):
    """(type, spec extras, annotations) for a Service; annotations may be set on any type."""
    svc_type = draw(st.sampled_from(["ClusterIP", "NodePort", "ExternalName", *["LoadBalancer"] * 5]))
    ann: dict[str, str] = {}
    extra: dict = {}
    if draw(st.integers(0, 5)) == 0:
        ann[draw(st.sampled_from(POOL_ANNS))] = draw(st.sampled_from(["a", "b", "m", "missing"]))
    how = draw(st.sampled_from(["none"] * 4 + ["spec", "ann"]))
    if how == "spec":
        extra["loadBalancerIP"] = draw(st.sampled_from(REQUESTS[:13]))
    elif how == "ann":
        ann[draw(st.sampled_from(REQUEST_ANNS))] = draw(st.sampled_from(REQUESTS))
    if svc_type == "LoadBalancer":
        cls = draw(st.sampled_from([None, None, None, LB_CLASS, FOREIGN]))
        if cls is not None:
            extra["loadBalancerClass"] = cls
    if svc_type != "ExternalName":
        fams, policy = draw(st.sampled_from(FAMILIES[:1] * 4 + FAMILIES[1:]))
        if fams is not None:
            extra["ipFamilies"] = fams
            extra["ipFamilyPolicy"] = policy
    else:
        extra["externalName"] = "db.example.com"
    return svc_type, extra, ann


def make_service(ns: str, name: str, svc_type: str, extra: dict, ann: dict) -> dict:
    spec = {"type": svc_type, "ports": [{"port": 80, "protocol": "TCP"}], **copy.deepcopy(extra)}
    md: dict = {"name": name, "namespace": ns}
    if ann:
        md["annotations"] = dict(ann)
    return {"apiVersion": "v1", "kind": "Service", "metadata": md, "spec": spec}


# -- an independent model of the pools and of the decision ----------------------------------------


def canon(ip: str) -> str:
    return str(ipaddress.ip_address(ip.strip()))


def model_addresses(pool: LBPool, version: int) -> list[str]:
    """Usable addresses of one family, configuration order, lowest first (from the pool's inputs)."""
    out = []
    for entry in pool.addresses:
        e = entry.strip()
        if "/" in e:
            net = ipaddress.ip_network(e, strict=False)
            cands = [net.network_address + i for i in range(net.num_addresses)]
        elif "-" in e:
            lo, hi = (ipaddress.ip_address(x.strip()) for x in e.split("-"))
            cands = [lo + i for i in range(int(hi) - int(lo) + 1)]
        else:
            cands = [ipaddress.ip_address(e)]
        for a in cands:
            if a.version != version:
                continue
            if pool.avoid_buggy_ips and a.version == 4 and str(a).rsplit(".", 1)[1] in ("0", "255"):
                continue
            out.append(str(a))
    return out


def model_managed(svc: dict) -> bool:
    spec = svc["spec"]
    return spec["type"] == "LoadBalancer" and spec.get("loadBalancerClass") in (None, LB_CLASS)


def model_request(svc: dict) -> list[str] | None:
    ann = svc["metadata"].get("annotations") or {}
    for k in REQUEST_ANNS:
        if ann.get(k):
            return [x.strip() for x in ann[k].split(",") if x.strip()]
    ip = svc["spec"].get("loadBalancerIP")
    return [ip] if ip else None


def status_ips(svc: dict) -> list[str]:
    return [e["ip"] for e in (svc.get("status", {}).get("loadBalancer") or {}).get("ingress") or []]


def key_of(ns: str, name: str) -> str:
    return f"{ns}/{name}"


class LBIPAMMachine(RuleBasedStateMachine):
    """The pure controller shell plus a model apiserver store (see the module docstring)."""

    @initialize(pool_set=st.sampled_from(["tiny", *sorted(POOL_SETS)]))
    def setup(self, pool_set):
        self.pools = POOL_SETS[pool_set]
        self.ctl = LoadBalancerIPController(LBIPAM(self.pools))
        self.store: dict[str, dict] = {}
        self.gone: set[str] = set()

    # -- model helpers ---------------------------------------------------------------------------

    def all_usable(self) -> set[str]:
        return {ip for p in self.pools for v in (4, 6) for ip in model_addresses(p, v)}

    def eligible(self, svc: dict) -> list[LBPool] | None:
        ann = svc["metadata"].get("annotations") or {}
        for k in POOL_ANNS:
            if ann.get(k):
                named = [p for p in self.pools if p.name == ann[k].strip()]
                return named or None
        return [p for p in self.pools if p.auto_assign]

    @staticmethod
    def lowest_free(pools: list[LBPool], version: int, used: dict[str, str], key: str) -> str | None:
        for p in pools:
            for ip in model_addresses(p, version):
                if used.get(ip) in (None, key):
                    return ip
        return None

    # -- the driver --------------------------------------------------------------------------------

    def upsert(self, key: str) -> None:
        svc = self.store[key]
        used_before = self.ctl.ipam.used()
        held_before = self.ctl.ipam.held(key)
        status_before = [canon(ip) for ip in status_ips(svc) if _is_ip(ip)]
        n_events = len(self.ctl.events)
        patch = self.ctl.on_upsert(copy.deepcopy(svc))
        if patch is not None:
            assert set(patch) == {"status"} and set(patch["status"]) == {"loadBalancer"}
            svc.setdefault("status", {})["loadBalancer"] = copy.deepcopy(patch["status"]["loadBalancer"])
            # the status write comes back as an update event: nothing more to write
            assert self.ctl.on_upsert(copy.deepcopy(svc)) is None
        new_events = self.ctl.events[n_events:]
        assert all(k == key and reason for k, reason in new_events)
        self.check_decision(svc, used_before, held_before, status_before, new_events)

    def check_decision(self, svc, used_before, held_before, status_before, new_events) -> None:
        key = key_of(svc["metadata"]["namespace"], svc["metadata"]["name"])
        ips = self.ctl.ipam.held(key)
        if not model_managed(svc):
            assert ips == () and not new_events
            return
        assert status_ips(svc) == list(ips)
        assert all(e.get("ipMode") == "VIP" for e in svc["status"]["loadBalancer"].get("ingress", []))
        others = {ip: k for ip, k in used_before.items() if k != key}
        usable = self.all_usable()

        req = model_request(svc)
        if req is not None:
            try:
                wanted = [canon(ip) for ip in req]
                ok = (
                    bool(wanted)
                    and len({ipaddress.ip_address(ip).version for ip in wanted}) == len(wanted)
                    and all(ip in usable and ip not in others for ip in wanted)
                )
            except ValueError:
                ok = False
            event(f"request {'granted' if ok else 'refused'}")
            if ok:
                assert list(ips) == wanted and not new_events
            else:
                assert ips == ()
                assert new_events, f"{key} pending on request {req!r} without an event"
            return

        pools = self.eligible(svc)
        if pools is None:
            assert ips == () and new_events and "does not exist" in new_events[-1][1]
            return
        families = svc["spec"].get("ipFamilies") or ["IPv4"]
        policy = svc["spec"].get("ipFamilyPolicy")
        eligible_ips = {ip for p in pools for v in (4, 6) for ip in model_addresses(p, v)}
        kept = [ip for ip in [*held_before, *status_before] if ip in eligible_ips and ip not in others]
        expect: list[str] = []
        missing = None
        for i, fam in enumerate(families):
            v = 4 if fam == "IPv4" else 6
            have = next((ip for ip in kept if ipaddress.ip_address(ip).version == v), None)
            if have is None:
                have = self.lowest_free(pools, v, others, key)
            if have is None:
                if i > 0 and policy == "PreferDualStack":
                    continue
                missing = fam
                break
            expect.append(have)
        event("pool exhausted: pending" if missing else "auto-assigned")
        if missing is not None:
            assert ips == (), f"{key} got {ips} though the model has no free {missing}"
            assert new_events and new_events[-1][1] == f"no available {missing} address in the address pools"
            assert svc["status"]["loadBalancer"] == {}  # kubectl shows <pending>
        else:
            assert list(ips) == expect and not new_events

    # -- rules ----------------------------------------------------------------------------------------

    @rule(who=st.sampled_from(NAMES), what=service_specs())
    def create_or_update(self, who, what):
        ns, name = who
        key = key_of(ns, name)
        new = make_service(ns, name, *what)
        old = self.store.get(key)
        if old is None:
            new["status"] = {"loadBalancer": {}}  # prepare_for_create
        else:
            new["status"] = copy.deepcopy(old.get("status") or {})  # prepare_for_update keeps it
            if new["spec"]["type"] != "LoadBalancer":
                new["status"]["loadBalancer"] = {}  # dropTypeDependentFields
            new["status"].setdefault("loadBalancer", {})
        self.store[key] = new
        self.gone.discard(key)
        self.upsert(key)

    @rule(who=st.sampled_from(NAMES))
    def delete(self, who):
        self.delete_and_retry(key_of(*who))

    def pending_exists(self) -> bool:
        return hasattr(self, "ctl") and any(model_managed(s) and not status_ips(s) for s in self.store.values())

    @precondition(lambda self: self.pending_exists() and self.ctl.ipam.used())
    @rule(data=st.data())
    def delete_a_holder_while_one_is_pending(self, data):
        self.delete_and_retry(data.draw(st.sampled_from(sorted(set(self.ctl.ipam.used().values())))))

    def delete_and_retry(self, key: str) -> None:
        svc = self.store.pop(key, None)
        if svc is None:
            return
        self.gone.add(key)
        self.ctl.on_delete(copy.deepcopy(svc))
        assert self.ctl.ipam.held(key) == ()
        # lbcontroller._on_delete: a freed address may let a pending Service get one
        for k, other in list(self.store.items()):
            if other["spec"]["type"] == "LoadBalancer":
                was_pending = model_managed(other) and not status_ips(other)
                self.upsert(k)
                if was_pending and status_ips(other):
                    event("retry after delete: pending Service got an address")
        # after the retry pass nothing pending could get an address now
        for other in self.store.values():
            if model_managed(other) and not status_ips(other):
                assert plan(other, self.ctl.ipam).ips == (), f"{other['metadata']} still pending though satisfiable"

    @rule(who=st.sampled_from(NAMES), ips=st.lists(st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.2.5", "fd00::1", "192.0.2.1"]), max_size=2))
    def foreign_controller_writes_status(self, who, ips):
        key = key_of(*who)
        svc = self.store.get(key)
        if svc is None or svc["spec"]["type"] != "LoadBalancer" or svc["spec"].get("loadBalancerClass") != FOREIGN:
            return
        used = self.ctl.ipam.used()
        svc["status"]["loadBalancer"] = {"ingress": [{"ip": ip, "ipMode": "VIP"} for ip in ips]} if ips else {}
        assert self.ctl.on_upsert(copy.deepcopy(svc)) is None  # someone else's: left alone
        assert self.ctl.ipam.used() == used

    @rule()
    def restart(self):
        before = self.ctl.ipam.used()
        self.ctl = LoadBalancerIPController(LBIPAM(self.pools))
        svcs = list(self.store.values())
        patches = self.ctl.resync([copy.deepcopy(s) for s in svcs])
        for svc, patch in zip(svcs, patches):
            if patch is not None:
                svc["status"]["loadBalancer"] = copy.deepcopy(patch["status"]["loadBalancer"])
                assert self.ctl.on_upsert(copy.deepcopy(svc)) is None
        after = self.ctl.ipam.used()
        # assignments survive the restart (pending Services may now get one: resync is a retry)
        assert before.items() <= after.items()

    # -- invariants -------------------------------------------------------------------------------

    @invariant()
    def pool_state_matches_the_services(self):
        if not hasattr(self, "ctl"):
            return
        ipam = self.ctl.ipam
        used = ipam.used()
        usable = self.all_usable()
        held_all: list[str] = []
        recorded: dict[str, str] = {}
        for key, svc in self.store.items():
            held = ipam.held(key)
            held_all.extend(held)
            if model_managed(svc):
                assert status_ips(svc) == list(held)
                for ip in status_ips(svc):
                    assert ip not in recorded, f"{ip} recorded by {recorded.get(ip)} and {key}"
                    recorded[ip] = key
            else:
                assert held == (), f"{key} ({svc['spec']['type']}, class {svc['spec'].get('loadBalancerClass')}) holds {held}"
                if svc["spec"]["type"] != "LoadBalancer":
                    assert svc["status"]["loadBalancer"] == {}
        # no address assigned to two Services
        assert len(held_all) == len(set(held_all))
        # every assigned address is a usable address of a configured pool
        assert set(used) <= usable
        assert all(ipam.pool_of(ip) is not None for ip in used)
        # used set == exactly what the managed LoadBalancer Services hold (nothing leaked)
        assert used == recorded
        for key in self.gone:
            assert ipam.held(key) == ()


def _is_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return False
    return True


TestLBIPAMMachine = LBIPAMMachine.TestCase
TestLBIPAMMachine.settings = settings(
    max_examples=300,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


# -- exhaustion and the retry after a delete, as a plain random sequence ----------------------------


@settings(max_examples=150, deadline=None)
@given(n_pool=st.integers(1, 4), extra=st.integers(0, 4), data=st.data())
def test_full_pool_leaves_new_services_pending_until_a_delete_frees_an_address(n_pool, extra, data):
    pool = LBPool(name="p", addresses=(f"10.7.0.1-10.7.0.{n_pool}",))
    addresses = [f"10.7.0.{i}" for i in range(1, n_pool + 1)]
    ctl = LoadBalancerIPController(LBIPAM([pool]))
    store: dict[str, dict] = {}

    def sync(key: str) -> None:
        svc = store[key]
        patch = ctl.on_upsert(copy.deepcopy(svc))
        if patch is not None:
            svc["status"] = copy.deepcopy(patch["status"])
            assert ctl.on_upsert(copy.deepcopy(svc)) is None

    names = [f"s{i}" for i in range(n_pool + extra)]
    for i, name in enumerate(names):
        store[f"default/{name}"] = {**make_service("default", name, "LoadBalancer", {}, {}), "status": {"loadBalancer": {}}}
        n_events = len(ctl.events)
        sync(f"default/{name}")
        if i < n_pool:  # lowest free first
            assert status_ips(store[f"default/{name}"]) == [addresses[i]]
        else:  # full: pending, an AllocationFailed-style event, <pending> status
            assert store[f"default/{name}"]["status"] == {"loadBalancer": {}}
            assert ctl.events[n_events:] == [(f"default/{name}", "no available IPv4 address in the address pools")]

    for name in data.draw(st.permutations(names)):
        key = f"default/{name}"
        before = {k: status_ips(s) for k, s in store.items()}
        ctl.on_delete(store.pop(key))
        for k in list(store):  # lbcontroller._on_delete re-syncs every LoadBalancer Service
            sync(k)
        holders = {k: status_ips(s) for k, s in store.items() if status_ips(s)}
        # those that held an address keep it; the freed one goes to the first pending Service
        assert all(holders[k] == ips for k, ips in before.items() if ips and k in store)
        assert len(holders) == min(n_pool, len(store))
        pending = [k for k in store if k not in holders]
        got = [k for k in holders if not before[k]]
        assert all(store_order < pending_order for store_order in map(list(store).index, got)
                   for pending_order in map(list(store).index, pending))
        flat = [ip for ips in holders.values() for ip in ips]
        assert len(flat) == len(set(flat)) and set(flat) <= set(addresses)
        assert ctl.ipam.used() == {ip: k for k, ips in holders.items() for ip in ips}
    assert ctl.ipam.used() == {}
