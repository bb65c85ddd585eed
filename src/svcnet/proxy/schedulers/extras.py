"""fo, ovf, twos -- the small IPVS extras (``ip_vs_fo.c``, ``ip_vs_ovf.c``, ``ip_vs_twos.c``).

Theory of operation
-------------------
* **fo** (weighted failover): the non-OVERLOAD dest with the highest weight; only a strictly
  greater weight replaces the current pick, so ties go to the first in list order and weight 0
  is never chosen.
* **ovf** (overflow): among dests with ``weight != 0``, not OVERLOAD and
  ``activeconns <= weight``, the highest weight (ties: first in list).  A dest overflows to the
  next one once ``activeconns > weight``.  Only active connections count, so UDP never
  overflows.
* **twos** (power of two choices): ``T`` = total weight of the non-OVERLOAD dests with
  ``weight > 0``; draw ``r1, r2`` uniformly in ``[0, T]`` (``get_random_u32_below(T + 1)``);
  walk those dests subtracting each weight from both; the first dest that brings ``r1 <= 0`` is
  choice 1, likewise ``r2`` gives choice 2.  Return choice 2 if
  ``w2 * overhead1 > w1 * overhead2`` (strictly less loaded per weight), else choice 1.  The
  random source is injectable (``rng(n) -> int in [0, n)``) so picks are testable.

lblc/lblcr are not modelled: they need a timed cache with garbage collection.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .base import IP_VS_DEST_F_OVERLOAD, Dest, Scheduler, VirtualService

__all__ = ["Overflow", "PowerOfTwoChoices", "WeightedFailover"]


class WeightedFailover(Scheduler):
    """``fo``: always the highest-weight available dest."""

    name = "fo"

    def schedule(
        self,
        svc: VirtualService,
        client_addr: str,
        client_port: int = 0,
        *,
        dst_addr: str | None = None,
        proto: str | None = None,
    ) -> Dest | None:
        best: Dest | None = None
        hw = 0
        for d in svc.dests:
            if not d.flags & IP_VS_DEST_F_OVERLOAD and d.weight > hw:
                best, hw = d, d.weight
        if best is None:
            svc.scheduler_err("no destination available")
        return best


class Overflow(Scheduler):
    """``ovf``: highest weight whose active connections do not exceed its weight."""

    name = "ovf"

    def schedule(
        self,
        svc: VirtualService,
        client_addr: str,
        client_port: int = 0,
        *,
        dst_addr: str | None = None,
        proto: str | None = None,
    ) -> Dest | None:
        best: Dest | None = None
        hw = 0
        for d in svc.dests:
            w = d.weight
            if d.flags & IP_VS_DEST_F_OVERLOAD or d.activeconns > w or w == 0:
                continue
            if best is None or w > hw:
                best, hw = d, w
        if best is None:
            svc.scheduler_err("no destination available")
        return best


class PowerOfTwoChoices(Scheduler):
    """``twos``: two weighted random candidates, keep the less loaded (wlc overhead)."""

    name = "twos"

    def __init__(self, *, rng: Callable[[int], int] | None = None) -> None:
        self.rng = rng if rng is not None else random.Random().randrange

    def schedule(
        self,
        svc: VirtualService,
        client_addr: str,
        client_port: int = 0,
        *,
        dst_addr: str | None = None,
        proto: str | None = None,
    ) -> Dest | None:
        eligible = [d for d in svc.dests if not d.flags & IP_VS_DEST_F_OVERLOAD and d.weight > 0]
        if not eligible:
            svc.scheduler_err("no destination available")
            return None
        total = sum(d.weight for d in eligible) + 1  # random weights inclusive of T
        r1 = self.rng(total)
        r2 = self.rng(total)
        choice1 = choice2 = None
        for d in eligible:
            r1 -= d.weight
            r2 -= d.weight
            if r1 <= 0 and choice1 is None:
                choice1 = d
            if r2 <= 0 and choice2 is None:
                choice2 = d
            if choice1 is not None and choice2 is not None:
                break
        assert choice1 is not None and choice2 is not None  # r <= T always reaches 0
        if choice2.weight * choice1.overhead > choice1.weight * choice2.overhead:
            return choice2
        return choice1
