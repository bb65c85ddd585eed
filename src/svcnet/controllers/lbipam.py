"""LoadBalancer IP address management: MetalLB-style pools and the decision the LB controller makes.

Theory of operation
-------------------
Reference: ``service-api.md`` section 6 and MetalLB's ``IPAddressPool``
(https://metallb.universe.tf/configuration/_advanced_ipaddresspool_configuration/).

**Pools.** A pool (:class:`LBPool`) is a list of CIDRs (``127.240.0.0/24``) and/or inclusive
``start-end`` ranges (``10.0.0.10-10.0.0.20``). ``auto_assign=False`` pools are used only when a
Service explicitly requests one of their addresses (or the pool by name). ``avoid_buggy_ips=True``
skips IPv4 addresses ending in ``.0`` or ``.255`` (some client stacks treat them as
network/broadcast). Local mode's default pool is ``127.240.0.0/24`` with ``avoid_buggy_ips`` on,
so the first address handed out is ``127.240.0.1``.

**Which Services.** Only ``type: LoadBalancer`` whose ``spec.loadBalancerClass`` is nil (we are
the default implementation) or ours (``svcnet.io/lb``). A Service with a foreign class is
someone else's: :func:`desired_ingress` returns ``None`` (leave its status alone).

**Choosing addresses** (:func:`plan`, pure):

1. A requested address list, from annotation ``svcnet.io/loadBalancerIPs``,
   ``metallb.universe.tf/loadBalancerIPs`` or ``metallb.io/loadBalancerIPs`` (comma-separated,
   at most one per family) or else the deprecated ``spec.loadBalancerIP``: each must be a valid
   IP inside some pool (any pool, even ``auto_assign=False``) and not held by another Service;
   otherwise the Service stays pending with a reason.
2. Otherwise the Service keeps what it already holds, else what its
   ``status.loadBalancer.ingress`` records if that address is still in an eligible pool and
   free (so assignments survive restarts; :meth:`LoadBalancerIPController.resync` re-marks all
   recorded addresses first, so that the first claimant of a contested address keeps it).
3. Otherwise, for each of ``spec.ipFamilies`` (``IPv4`` when absent), the lowest free address of
   the first eligible pool in configuration order (a pool named by annotation
   ``svcnet.io/address-pool`` / ``metallb.universe.tf/address-pool`` / ``metallb.io/address-pool``,
   else every ``auto_assign`` pool). The secondary family of a ``PreferDualStack`` Service is
   best-effort; every other family is required.
4. Nothing available -> pending: ingress ``[]`` (``kubectl`` shows ``<pending>``).

The resulting status is ``status.loadBalancer.ingress = [{"ip": ip, "ipMode": "VIP"}, ...]``.
Addresses are released when the Service is deleted, stops being ``LoadBalancer`` or changes to
a foreign class.

:class:`LoadBalancerIPController` is the stateful shell: each method takes one Service event and
returns the status patch to write (or ``None`` when nothing needs writing), so the event-driven
driver that talks to the API is trivial. Nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from svcnet.api.errors import SvcnetError

__all__ = [
    "DEFAULT_LOCAL_POOL",
    "LB_CLASS",
    "LBIPAM",
    "LBPool",
    "LBPoolError",
    "LoadBalancerIPController",
    "Plan",
    "desired_ingress",
    "is_managed",
    "plan",
    "requested_ips",
    "service_key",
]

#: our loadBalancerClass
LB_CLASS = "svcnet.io/lb"
REQUEST_ANNOTATIONS = (
    "svcnet.io/loadBalancerIPs",
    "metallb.universe.tf/loadBalancerIPs",
    "metallb.io/loadBalancerIPs",
)
POOL_ANNOTATIONS = (
    "svcnet.io/address-pool",
    "metallb.universe.tf/address-pool",
    "metallb.io/address-pool",
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class LBPoolError(SvcnetError, ValueError):
    """A pool definition that does not parse."""


def _family(addr: IPAddress) -> str:
    return "IPv4" if addr.version == 4 else "IPv6"


@dataclass(frozen=True, slots=True, kw_only=True)
class LBPool:
    """One ``IPAddressPool``: CIDRs and/or ``start-end`` ranges."""

    name: str
    addresses: tuple[str, ...]
    auto_assign: bool = True
    avoid_buggy_ips: bool = False
    #: parsed (first, last) integer ranges with their IP version, in configuration order
    ranges: tuple[tuple[int, int, int], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.addresses, str):
            object.__setattr__(self, "addresses", (self.addresses,))
        parsed = []
        for spec in self.addresses:
            parsed.append(_parse_range(spec))
        object.__setattr__(self, "addresses", tuple(self.addresses))
        object.__setattr__(self, "ranges", tuple(parsed))

    def contains(self, ip: str | IPAddress) -> bool:
        try:
            addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        except ValueError:
            return False
        n = int(addr)
        return any(v == addr.version and lo <= n <= hi for lo, hi, v in self.ranges) and not self._buggy(addr)

    def _buggy(self, addr: IPAddress) -> bool:
        if not self.avoid_buggy_ips or addr.version != 4:
            return False
        return int(addr) & 0xFF in (0, 255)

    def iter_addresses(self, version: int) -> Iterator[IPAddress]:
        """Usable addresses of one IP version, in configuration order, lowest first per range."""
        cls = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
        for lo, hi, v in self.ranges:
            if v != version:
                continue
            for n in range(lo, hi + 1):
                addr = cls(n)
                if not self._buggy(addr):
                    yield addr


def _parse_range(spec: str) -> tuple[int, int, int]:
    text = spec.strip()
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            return int(net.network_address), int(net.broadcast_address), net.version
        if "-" in text:
            a, b = (ipaddress.ip_address(x.strip()) for x in text.split("-", 1))
            if a.version != b.version or int(a) > int(b):
                raise ValueError("bad range")
            return int(a), int(b), a.version
        a = ipaddress.ip_address(text)
        return int(a), int(a), a.version
    except ValueError:
        raise LBPoolError(f"invalid address pool entry {spec!r}: want a CIDR or start-end range") from None


DEFAULT_LOCAL_POOL = LBPool(name="default", addresses=("127.240.0.0/24",), avoid_buggy_ips=True)


# --------------------------------------------------------------------------------------------
# Pool state


class LBIPAM:
    """Which pool address belongs to which Service (``namespace/name``)."""

    def __init__(self, pools: Sequence[LBPool] = (DEFAULT_LOCAL_POOL,)):
        names = [p.name for p in pools]
        if len(set(names)) != len(names):
            raise LBPoolError("address pool names must be unique")
        self.pools: tuple[LBPool, ...] = tuple(pools)
        self._owner: dict[str, str] = {}  # canonical ip -> service key
        self._held: dict[str, tuple[str, ...]] = {}  # service key -> ips (status order)

    def pool_of(self, ip: str) -> LBPool | None:
        for p in self.pools:
            if p.contains(ip):
                return p
        return None

    def pool(self, name: str) -> LBPool | None:
        return next((p for p in self.pools if p.name == name), None)

    def owner(self, ip: str) -> str | None:
        return self._owner.get(_canon(ip))

    def held(self, key: str) -> tuple[str, ...]:
        return self._held.get(key, ())

    def is_free_for(self, ip: str, key: str) -> bool:
        o = self._owner.get(_canon(ip))
        return o is None or o == key

    def lowest_free(self, pools: Iterable[LBPool], version: int, key: str) -> str | None:
        for p in pools:
            for addr in p.iter_addresses(version):
                if self.is_free_for(str(addr), key):
                    return str(addr)
        return None

    def assign(self, key: str, ips: Sequence[str]) -> None:
        """Make ``ips`` the addresses of ``key`` (releasing what it held before)."""
        canon = tuple(_canon(ip) for ip in ips)
        for ip in canon:
            o = self._owner.get(ip)
            if o is not None and o != key:
                raise LBPoolError(f"address {ip} is already assigned to {o}")
        self.release(key)
        for ip in canon:
            self._owner[ip] = key
        if canon:
            self._held[key] = canon

    def release(self, key: str) -> tuple[str, ...]:
        ips = self._held.pop(key, ())
        for ip in ips:
            if self._owner.get(ip) == key:
                del self._owner[ip]
        return ips

    def used(self) -> dict[str, str]:
        return dict(self._owner)


def _is_ip(ip: str) -> bool:
    try:
        ipaddress.ip_address(ip)
    except ValueError:
        return False
    return True


def _canon(ip: str) -> str:
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        return ip


# --------------------------------------------------------------------------------------------
# The pure decision


def service_key(svc: dict) -> str:
    md = svc.get("metadata") or {}
    return f"{md.get('namespace') or 'default'}/{md.get('name') or ''}"


def is_managed(svc: dict, lb_class: str = LB_CLASS, *, default_implementation: bool = True) -> bool:
    """``type: LoadBalancer`` with our class, or no class when we are the default implementation."""
    spec = svc.get("spec") or {}
    if spec.get("type") != "LoadBalancer":
        return False
    cls = spec.get("loadBalancerClass")
    return cls == lb_class or (cls is None and default_implementation)


def requested_ips(svc: dict) -> list[str] | None:
    """The explicitly requested addresses (annotation first, then spec.loadBalancerIP)."""
    ann = (svc.get("metadata") or {}).get("annotations") or {}
    for key in REQUEST_ANNOTATIONS:
        if ann.get(key):
            return [x.strip() for x in str(ann[key]).split(",") if x.strip()]
    lb_ip = (svc.get("spec") or {}).get("loadBalancerIP")
    if lb_ip:
        return [str(lb_ip).strip()]
    return None


def _status_ips(svc: dict) -> list[str]:
    lb = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [e["ip"] for e in lb if isinstance(e, dict) and e.get("ip")]


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What the Service should hold: ``ips`` (empty = pending); ``managed`` False = not ours."""

    managed: bool
    ips: tuple[str, ...] = ()
    reason: str = ""

    @property
    def ingress(self) -> list[dict] | None:
        if not self.managed:
            return None
        return [{"ip": ip, "ipMode": "VIP"} for ip in self.ips]


def plan(svc: dict, state: LBIPAM, *, lb_class: str = LB_CLASS, default_implementation: bool = True) -> Plan:
    """Decide the addresses of ``svc`` given the pool state; mutates nothing."""
    if not is_managed(svc, lb_class, default_implementation=default_implementation):
        return Plan(managed=False)
    key = service_key(svc)
    spec = svc.get("spec") or {}

    wanted = requested_ips(svc)
    if wanted is not None:
        out: list[str] = []
        seen_versions: set[int] = set()
        for ip in wanted:
            try:
                addr = ipaddress.ip_address(ip)
            except ValueError:
                return Plan(managed=True, reason=f"requested address {ip!r} is not a valid IP")
            if addr.version in seen_versions:
                return Plan(managed=True, reason="at most one requested address per IP family")
            seen_versions.add(addr.version)
            if state.pool_of(str(addr)) is None:
                return Plan(managed=True, reason=f"requested address {addr} is not in any address pool")
            if not state.is_free_for(str(addr), key):
                return Plan(managed=True, reason=f"requested address {addr} is already assigned to {state.owner(str(addr))}")
            out.append(str(addr))
        return Plan(managed=True, ips=tuple(out))

    pools = _eligible_pools(svc, state)
    if isinstance(pools, str):
        return Plan(managed=True, reason=pools)
    families = list(spec.get("ipFamilies") or ["IPv4"])
    # what it holds, else what its stored status records (a restart), if still usable
    recorded = [_canon(ip) for ip in _status_ips(svc)]
    keep = [ip for ip in [*state.held(key), *recorded]
            if _is_ip(ip) and state.pool_of(ip) in pools and state.is_free_for(ip, key)]
    out = []
    for i, fam in enumerate(families):
        version = 4 if fam == "IPv4" else 6
        have = next((ip for ip in keep if ipaddress.ip_address(ip).version == version), None)
        if have is None:
            have = state.lowest_free(pools, version, key)
        if have is None:
            if i > 0 and spec.get("ipFamilyPolicy") == "PreferDualStack":
                continue
            return Plan(managed=True, reason=f"no available {fam} address in the address pools")
        out.append(have)
    return Plan(managed=True, ips=tuple(out))


def _eligible_pools(svc: dict, state: LBIPAM) -> list[LBPool] | str:
    ann = (svc.get("metadata") or {}).get("annotations") or {}
    for key in POOL_ANNOTATIONS:
        if ann.get(key):
            p = state.pool(str(ann[key]).strip())
            return [p] if p is not None else f"address pool {ann[key]!r} does not exist"
    return [p for p in state.pools if p.auto_assign]


def desired_ingress(service: dict, pool_state: LBIPAM, *, lb_class: str = LB_CLASS) -> list[dict] | None:
    """``status.loadBalancer.ingress`` the Service should have: None when it isn't ours,
    ``[]`` while pending, else ``[{"ip": ..., "ipMode": "VIP"}, ...]``. Pure."""
    return plan(service, pool_state, lb_class=lb_class).ingress


# --------------------------------------------------------------------------------------------
# The controller shell


def _status_patch(ingress: list[dict]) -> dict:
    return {"status": {"loadBalancer": {"ingress": ingress} if ingress else {}}}


class LoadBalancerIPController:
    """Turns Service events into ``/status`` patches; keeps the pool state.

    ``on_upsert`` returns ``{"status": {"loadBalancer": {...}}}`` when the stored status differs
    from the decision, else None; ``on_delete`` releases. ``events`` collects human-readable
    reasons for pending Services (``AllocationFailed`` events upstream).
    """

    def __init__(self, ipam: LBIPAM | None = None, *, lb_class: str = LB_CLASS, default_implementation: bool = True):
        self.ipam = ipam if ipam is not None else LBIPAM()
        self.lb_class = lb_class
        self.default_implementation = default_implementation
        self.events: list[tuple[str, str]] = []

    def _plan(self, svc: dict) -> Plan:
        return plan(svc, self.ipam, lb_class=self.lb_class, default_implementation=self.default_implementation)

    def resync(self, services: Iterable[dict]) -> list[dict | None]:
        """Start-up: first re-mark what the stored statuses record (first claimant wins), then
        decide every Service. Returns one patch (or None) per Service, in input order."""
        services = list(services)
        for svc in services:
            if not is_managed(svc, self.lb_class, default_implementation=self.default_implementation):
                continue
            key = service_key(svc)
            keep = [ip for ip in _status_ips(svc) if self.ipam.pool_of(ip) and self.ipam.is_free_for(ip, key)]
            if keep:
                self.ipam.assign(key, list(self.ipam.held(key)) + keep)
        return [self.on_upsert(svc) for svc in services]

    def on_upsert(self, svc: dict) -> dict | None:
        key = service_key(svc)
        p = self._plan(svc)
        current = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        if not p.managed:
            self.ipam.release(key)
            return None
        if p.ips:
            self.ipam.assign(key, p.ips)
        else:
            self.ipam.release(key)
            if p.reason:
                self.events.append((key, p.reason))
        want = p.ingress or []
        if _norm(current) == _norm(want):
            return None
        return _status_patch(want)

    def on_delete(self, svc: dict) -> None:
        self.ipam.release(service_key(svc))


def _norm(ingress: list) -> list[tuple]:
    return [(e.get("ip"), e.get("hostname"), e.get("ipMode")) for e in ingress if isinstance(e, dict)]
