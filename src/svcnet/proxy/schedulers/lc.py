"""lc, wlc, sed, nq -- the IPVS least-connection family.

Theory of operation
-------------------
All four walk ``svc.dests`` in kernel list order, skip OVERLOAD dests and never pick a dest with
weight 0 (quiesced).  Comparisons are exact integer arithmetic with strict ``<`` / ``>``, so ties
go to the dest **first in list order** (the most recently added).  Sources:
``net/netfilter/ipvs/ip_vs_{lc,wlc,sed,nq}.c`` and ``ip_vs_dest_conn_overhead`` in
``include/net/ip_vs.h``.

* **lc**: minimum of ``overhead = (activeconns << 8) + inactconns`` (one active connection
  weighs 256 inactive ones; the ``<<5`` in lc's comment is stale).  Weights other than 0 are
  ignored.
* **wlc** (the kernel/ipvsadm default): the first eligible dest with ``weight > 0`` seeds
  ``least``; each later non-OVERLOAD dest ``d`` replaces it when
  ``loh * weight(d) > doh * weight(least)`` -- i.e. ``d`` has strictly less overhead per unit of
  weight.  A weight-0 dest after the seed never wins (``loh * 0 > ...`` is false).
* **sed**: wlc with ``overhead = activeconns + 1`` (inactive connections, so all UDP load, are
  ignored).
* **nq**: sed, except that the first dest (in list order) with ``activeconns == 0`` is returned
  immediately, even if a faster idle dest follows.
"""

from __future__ import annotations

from .base import IP_VS_DEST_F_OVERLOAD, Dest, Scheduler, VirtualService

__all__ = [
    "LeastConnection",
    "NeverQueue",
    "ShortestExpectedDelay",
    "WeightedLeastConnection",
]


def _conn_overhead(d: Dest) -> int:
    return (d.activeconns << 8) + d.inactconns


def _sed_overhead(d: Dest) -> int:
    return d.activeconns + 1


class LeastConnection(Scheduler):
    """``lc``: least ``(active << 8) + inactive`` among dests with non-zero weight."""

    name = "lc"

    def schedule(
        self,
        svc: VirtualService,
        client_addr: str,
        client_port: int = 0,
        *,
        dst_addr: str | None = None,
        proto: str | None = None,
    ) -> Dest | None:
        least: Dest | None = None
        loh = 0
        for d in svc.dests:
            if d.flags & IP_VS_DEST_F_OVERLOAD or d.weight == 0:
                continue
            doh = (d.activeconns << 8) + d.inactconns
            if least is None or doh < loh:
                least, loh = d, doh
        if least is None:
            svc.scheduler_err("no destination available")
        return least


class _WeightedLeast(Scheduler):
    """wlc and sed: seed with the first eligible dest, then strict weighted comparison."""

    @staticmethod
    def overhead(d: Dest) -> int:
        raise NotImplementedError

    def schedule(
        self,
        svc: VirtualService,
        client_addr: str,
        client_port: int = 0,
        *,
        dst_addr: str | None = None,
        proto: str | None = None,
    ) -> Dest | None:
        overhead = self.overhead
        dests = svc.dests
        least: Dest | None = None
        start = 0
        for i, d in enumerate(dests):
            if not d.flags & IP_VS_DEST_F_OVERLOAD and d.weight > 0:
                least, start = d, i + 1
                break
        if least is None:
            svc.scheduler_err("no destination available")
            return None
        loh = overhead(least)
        for i in range(start, len(dests)):
            d = dests[i]
            if d.flags & IP_VS_DEST_F_OVERLOAD:
                continue
            doh = overhead(d)
            if loh * d.weight > doh * least.weight:
                least, loh = d, doh
        return least


class WeightedLeastConnection(_WeightedLeast):
    """``wlc``: least ``overhead / weight`` with the 256:1 active/inactive overhead."""

    name = "wlc"
    overhead = staticmethod(_conn_overhead)


class ShortestExpectedDelay(_WeightedLeast):
    """``sed``: least ``(activeconns + 1) / weight``."""

    name = "sed"
    overhead = staticmethod(_sed_overhead)


class NeverQueue(Scheduler):
    """``nq``: an idle dest (first in list order) if any, otherwise sed's choice."""

    name = "nq"

    def schedule(
        self,
        svc: VirtualService,
        client_addr: str,
        client_port: int = 0,
        *,
        dst_addr: str | None = None,
        proto: str | None = None,
    ) -> Dest | None:
        least: Dest | None = None
        loh = 0
        for d in svc.dests:
            if d.flags & IP_VS_DEST_F_OVERLOAD or not d.weight:
                continue
            doh = d.activeconns + 1
            if d.activeconns == 0:
                return d  # return the server directly if it is idle
            if least is None or loh * d.weight > doh * least.weight:
                least, loh = d, doh
        if least is None:
            svc.scheduler_err("no destination available")
        return least
