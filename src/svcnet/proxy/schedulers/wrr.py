"""wrr -- IPVS weighted round-robin scheduling (``net/netfilter/ipvs/ip_vs_wrr.c``).

Theory of operation
-------------------
State ("mark"): ``cl`` (current dest, or HEAD = ``None``), ``cw`` (current weight level), ``mw``
(top level) and ``di`` (step).

* ``di`` = gcd of all weights > 0 (1 if there are none); ``mw = max(weights, 0) - (di - 1)``.
  Lowering ``mw`` by ``di - 1`` makes the last level ``cw == 1``, so a dest whose weight fell
  below ``di`` between recomputations is still reached.
* ``init_service``: ``cl = HEAD``, compute ``di``/``mw``, ``cw = mw``.
* ``add_dest``/``del_dest``/``upd_dest`` (all the same function): ``cl = HEAD``, recompute
  ``di``/``mw``; if ``cw > mw`` or ``cw == 0`` then ``cw = mw``, elif ``di > 1`` then
  ``cw = (cw // di) * di + 1``.  The scan restarts at the list start but keeps its level.

Pick: if ``mw == 0`` fail ("no destination available").  Otherwise scan the dests after ``cl``
to the end of the list (no wrap); the first that is not OVERLOAD with ``weight >= cw`` wins and
becomes ``cl``.  At the end of the list, ``cw -= di``; when it drops to ``<= 0`` it restarts at
``mw`` -- unless this was already the last pass (``cw <= di`` for every dest) or the scan
started at HEAD, in which case the pick fails ("all destinations are overloaded", ``cl`` reset
to HEAD).  After a restart, the last pass stops at the dest where the scan began (``stop``).

So within a level dests go in list order, and over a full cycle each dest is picked
``ceil((weight - (di-1)) / di)``-ish times -- exactly ``weight / di`` when all weights are
multiples of ``di``; ties go to list order.
"""

from __future__ import annotations

from math import gcd

from .base import IP_VS_DEST_F_OVERLOAD, Dest, Scheduler, VirtualService

__all__ = ["WeightedRoundRobin"]


class WeightedRoundRobin(Scheduler):
    """``wrr``: weighted round robin with the kernel's level-by-level scan."""

    name = "wrr"

    def __init__(self) -> None:
        self.cl: Dest | None = None
        self.cw = 0
        self.mw = 0
        self.di = 1

    @staticmethod
    def _gcd_weight(svc: VirtualService) -> int:
        g = 0
        for d in svc.dests:
            if d.weight > 0:
                g = gcd(d.weight, g) if g > 0 else d.weight
        return g or 1

    @staticmethod
    def _max_weight(svc: VirtualService) -> int:
        return max((d.weight for d in svc.dests if d.weight > 0), default=0)

    def init_service(self, svc: VirtualService) -> None:
        self.cl = None
        self.di = self._gcd_weight(svc)
        self.mw = self._max_weight(svc) - (self.di - 1)
        self.cw = self.mw

    def done_service(self, svc: VirtualService) -> None:
        self.cl = None

    def _dest_changed(self, svc: VirtualService, dest: Dest, old_index: int | None = None) -> None:
        self.cl = None
        self.di = self._gcd_weight(svc)
        self.mw = self._max_weight(svc) - (self.di - 1)
        if self.cw > self.mw or not self.cw:
            self.cw = self.mw
        elif self.di > 1:
            self.cw = (self.cw // self.di) * self.di + 1

    add_dest = _dest_changed
    del_dest = _dest_changed
    upd_dest = _dest_changed

    def schedule(
        self,
        svc: VirtualService,
        client_addr: str,
        client_port: int = 0,
        *,
        dst_addr: str | None = None,
        proto: str | None = None,
    ) -> Dest | None:
        if self.mw == 0:
            svc.scheduler_err("no destination available")
            return None
        dests = svc.dests
        n = len(dests)
        last = self.cl
        idx = -1 if last is None else dests.index(last)
        stop: Dest | None = None
        last_pass = restarted = False
        while True:
            for i in range(idx + 1, n):
                d = dests[i]
                if not d.flags & IP_VS_DEST_F_OVERLOAD and d.weight >= self.cw:
                    self.cl = d
                    return d
                if d is stop:
                    self.cl = d
                    svc.scheduler_err("no destination available: all destinations are overloaded")
                    return None
            idx = -1  # back at the list head
            self.cw -= self.di
            if self.cw <= 0:
                self.cw = self.mw
                # stop if the last pass was already done: either we started it from the
                # head (the first traversal was for weight >= 1), or we came from one
                if last_pass or last is None:
                    self.cl = None
                    svc.scheduler_err("no destination available: all destinations are overloaded")
                    return None
                restarted = True
            last_pass = self.cw <= self.di
            if last_pass and restarted and last is not None:
                stop = last
