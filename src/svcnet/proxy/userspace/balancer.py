"""Choosing an endpoint for a new connection: kernel-exact scheduler + ClientIP affinity.

Theory of operation
-------------------
A :class:`Balancer` serves every listener of one service port and policy (``plan`` rule 4). It
owns one :class:`~svcnet.proxy.schedulers.VirtualService` whose dests are the endpoints, all
with weight 1 (EndpointSlices carry no weights), added in the model's sorted order -- exactly
what kube-proxy's IPVS mode programs -- so :meth:`pick` makes the choice the kernel would for
the same endpoints and connection counts. The data planes (``tcp``, ``udp``) only see the small
:class:`Picker` interface, which the cloud load balancer implements too (one engine, two users).

Rules:

1. **Accounting.** :meth:`opened` counts a connection on its dest the moment a connect is tried
   (the kernel counts from the first SYN) and :meth:`closed` / :meth:`failed` uncount it, so
   lc/wlc/sed/nq see the real number of open connections.
2. **Affinity** (``sessionAffinity: ClientIP``): the endpoint last used by a client IP is
   reused while it was used less than ``timeoutSeconds`` ago; a connection's start and its end
   both count as use (as IPVS persistence templates outlive their connections), so a client
   whose connections keep arriving or stay open keeps its endpoint, and one idle for longer
   than the timeout is load-balanced anew. A reused endpoint bypasses the scheduler (the rr
   pointer does not move), as IPVS persistence does. Affinity records of an endpoint that is
   removed are dropped at once (upstream userspace ``LoadBalancerRR.OnEndpointsUpdate``).
3. **Retry** (``tried`` non-empty): affinity is ignored (upstream ``sessionAffinityReset``) and
   an endpoint not tried yet is returned: the scheduler's pick if untried, else the first
   untried eligible dest in list order. The new pick becomes the client's affinity.
4. **Draining.** A removed endpoint is *quiesced* (weight 0: never picked again) while it has
   open connections and deleted when its last one closes; open connections are never cut.
5. **Scheduler refusal.** Where the kernel scheduler refuses although eligible dests exist
   (sh/dh/mh without fallback landing on a quiesced dest), we fall back to the first eligible
   dest in list order instead of refusing the client, and count it in ``fallbacks``.

Nothing here does I/O; time comes from the ``clock`` callable (monotonic seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from svcnet.proxy.schedulers import IP_VS_DEST_F_OVERLOAD, Conn, Dest, VirtualService, parse_sched_flags
from svcnet.proxy.userspace.plan import BalancerSpec

__all__ = ["AFFINITY_TABLE_LIMIT", "Balancer", "Picker", "Stats", "Target"]

#: beyond this many affinity records a pick sweeps expired ones (bounds memory under scans)
AFFINITY_TABLE_LIMIT = 65536


class Stats:
    """Counters of one service port or one endpoint (plain ints: the hot path adds to them;
    the metrics collector reads them at scrape time)."""

    __slots__ = (
        "active",
        "bytes_in",
        "bytes_out",
        "connect_failures",
        "connections",
        "packets_in",
        "packets_out",
        "retries",
    )

    def __init__(self) -> None:
        self.connections = 0
        self.active = 0
        self.bytes_in = 0  # client -> endpoint
        self.bytes_out = 0  # endpoint -> client
        self.connect_failures = 0
        self.retries = 0
        self.packets_in = 0
        self.packets_out = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


class Target:
    """Where a connection goes: an ``ip:port`` with its own counters."""

    __slots__ = ("addr", "dest", "family", "ip", "name", "port", "stats")

    def __init__(self, ip: str, port: int, *, name: str = "", dest: Dest | None = None) -> None:
        self.ip = ip
        self.port = port
        self.addr = (ip, port)
        self.family = 10 if ":" in ip else 2  # AF_INET6 / AF_INET (no socket import here)
        self.name = name or (f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}")
        self.dest = dest
        self.stats = Stats()

    def __repr__(self) -> str:
        return f"Target({self.name})"


class Picker(Protocol):
    """What a data plane listener needs from whoever chooses its endpoints."""

    #: counters of the whole service port (or frontend)
    stats: Stats

    def pick(self, client_ip: str, client_port: int, dst_ip: str, tried: tuple[Target, ...]) -> Target | None: ...

    def opened(self, target: Target, proto: str) -> Any: ...

    def failed(self, target: Target, token: Any) -> None: ...

    def closed(self, target: Target, token: Any, client_ip: str) -> None: ...


def _eligible(d: Dest) -> bool:
    return d.weight > 0 and not d.flags & IP_VS_DEST_F_OVERLOAD


class Balancer:
    """Scheduler + affinity for one service port and policy; implements :class:`Picker`."""

    def __init__(self, spec: BalancerSpec, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.key = spec.key
        self.name = str(spec.key[0])
        self.protocol = spec.protocol
        self.clock = clock
        self.stats = Stats()
        self.vs = VirtualService(spec.vip, 0, spec.protocol, spec.scheduler, flags=parse_sched_flags(spec.scheduler_flags))
        self.affinity_seconds = 0
        #: client IP -> [dest, last use]
        self.affinity: dict[str, list[Any]] = {}
        self.fallbacks = 0
        self._wanted: dict[tuple[str, int], int] = {}
        self.spec = spec
        self.update(spec)

    # -- control ------------------------------------------------------------------------------

    def update(self, spec: BalancerSpec) -> None:
        """Adopt a new spec: scheduler, flags, affinity and endpoint set (rule 4)."""
        self.spec = spec
        self.vs.set_scheduler(spec.scheduler)
        self.vs.flags = parse_sched_flags(spec.scheduler_flags)
        if spec.affinity_seconds != self.affinity_seconds:
            self.affinity.clear()
            self.affinity_seconds = spec.affinity_seconds
        self._set_endpoints({(ep.ip, ep.port): ep for ep in spec.endpoints})

    def retire(self) -> None:
        """The service port is gone: quiesce everything (open connections drain)."""
        self._set_endpoints({})

    def _set_endpoints(self, eps: dict[tuple[str, int], Any]) -> None:
        self._wanted = dict.fromkeys(eps, 1)
        res = self.vs.sync_dests(self._wanted, quiesce_removed=True)
        for d in res.added:
            if d.payload is None:
                ep = eps.get((d.addr, d.port))
                target = Target(d.addr, d.port, dest=d)
                if ep is not None and getattr(ep, "target", ""):
                    target.name = str(ep)
                d.payload = target
        gone = {id(d) for d in res.removed} | {id(d) for d in res.quiesced}
        if gone and self.affinity:
            self.affinity = {ip: rec for ip, rec in self.affinity.items() if id(rec[0]) not in gone}

    def expire(self) -> int:
        """Drop affinity records unused for longer than the timeout; returns how many."""
        if not self.affinity:
            return 0
        now = self.clock()
        ttl = self.affinity_seconds
        old = [ip for ip, rec in self.affinity.items() if now - rec[1] >= ttl]
        for ip in old:
            del self.affinity[ip]
        return len(old)

    # -- read access -------------------------------------------------------------------------

    @property
    def targets(self) -> list[Target]:
        """Targets of every dest, linked (in kernel list order) or draining."""
        return [d.payload for d in self.vs.dests] + [d.payload for d in self.vs.trash]

    @property
    def active_targets(self) -> list[Target]:
        return [d.payload for d in self.vs.dests if d.weight > 0]

    # -- Picker ------------------------------------------------------------------------------

    def pick(self, client_ip: str, client_port: int, dst_ip: str, tried: tuple[Target, ...] = ()) -> Target | None:
        ttl = self.affinity_seconds
        now = 0.0
        if ttl:
            now = self.clock()
            if not tried:
                rec = self.affinity.get(client_ip)
                if rec is not None:
                    d = rec[0]
                    if now - rec[1] < ttl and d.weight > 0 and d.available:
                        rec[1] = now
                        return d.payload
        vs = self.vs
        # VirtualService.schedule without its wrapper (hot path: one call per connection)
        d = vs.scheduler.schedule(vs, client_ip, client_port, dst_addr=dst_ip)  # type: ignore[union-attr]
        if d is None or (tried and d.payload in tried):
            d = self._fallback(tried)
            if d is None:
                return None
        if ttl:
            if len(self.affinity) >= AFFINITY_TABLE_LIMIT:
                self.expire()
            self.affinity[client_ip] = [d, now]
        return d.payload

    def _fallback(self, tried: tuple[Target, ...]) -> Dest | None:
        for d in self.vs.dests:
            if _eligible(d) and d.payload not in tried:
                self.fallbacks += 1
                return d
        return None

    def opened(self, target: Target, proto: str) -> Conn:
        st = target.stats
        st.connections += 1
        st.active += 1
        st = self.stats
        st.connections += 1
        st.active += 1
        # conn_opened(): a TCP connection counts active from its first SYN, UDP inactive
        return self.vs.bind(target.dest, active=proto == "TCP", proto=proto)  # type: ignore[arg-type]

    def failed(self, target: Target, token: Conn) -> None:
        """A connect attempt failed: uncount it and count the failure."""
        st = target.stats
        st.connections -= 1
        st.active -= 1
        st.connect_failures += 1
        st = self.stats
        st.connections -= 1
        st.active -= 1
        st.connect_failures += 1
        self._uncount(token)

    def closed(self, target: Target, token: Conn, client_ip: str) -> None:
        target.stats.active -= 1
        self.stats.active -= 1
        if self.affinity_seconds:
            rec = self.affinity.get(client_ip)
            if rec is not None and rec[0] is target.dest:
                rec[1] = self.clock()
        self._uncount(token)

    def _uncount(self, token: Conn) -> None:
        self.vs.unbind(token)
        d = token.dest
        # a quiesced dest that has drained leaves the list (rule 4)
        if d.weight == 0 and d.available and not d.totalconns and (d.addr, d.port) not in self._wanted:
            self.vs.del_dest(d)

    def __repr__(self) -> str:
        return f"Balancer({self.name} {self.key[1]} {self.vs.scheduler.name if self.vs.scheduler else '-'} n={len(self.vs.dests)})"
