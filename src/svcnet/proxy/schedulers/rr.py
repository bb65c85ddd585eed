"""rr -- IPVS round-robin scheduling (``net/netfilter/ipvs/ip_vs_rr.c``).

Theory of operation
-------------------
State: ``pos``, a dest or the list HEAD (``None``); it starts at HEAD (``init_service`` points
``sched_data`` at ``&svc->destinations``).

Pick: walk the dests strictly after ``pos`` to the end of the list, then -- unless ``pos`` is HEAD
-- wrap to the first dest and go up to and including ``pos`` itself (it is the last candidate).
The first dest that is not OVERLOAD and has ``weight > 0`` becomes the new ``pos`` and is
returned.  If none qualifies, ``pos`` is left alone and the pick fails.

Hooks: rr has no ``add_dest``/``upd_dest``; a new dest sits at the list head and is reached after
the wrap.  ``del_dest`` only repairs the pointer: if ``pos`` is the removed dest it moves to its
predecessor (HEAD if it was first) -- the kernel reaches it as ``p->next->prev`` of the unlinked
node.

Consequence: the first pick after service creation is the first eligible dest in list order,
i.e. the most recently added one.
"""

from __future__ import annotations

from .base import IP_VS_DEST_F_OVERLOAD, Dest, Scheduler, VirtualService

__all__ = ["RoundRobin"]


class RoundRobin(Scheduler):
    """``rr``: plain round robin over dests with ``weight > 0`` that are not OVERLOAD."""

    name = "rr"

    def __init__(self) -> None:
        self.pos: Dest | None = None  # None is the list head

    def init_service(self, svc: VirtualService) -> None:
        self.pos = None

    def done_service(self, svc: VirtualService) -> None:
        self.pos = None

    def del_dest(self, svc: VirtualService, dest: Dest, old_index: int | None = None) -> None:
        if self.pos is dest:
            # predecessor in the list the dest was unlinked from; HEAD if it was first
            if old_index is None or old_index == 0:
                self.pos = None
            else:
                self.pos = svc.dests[old_index - 1]

    def schedule(
        self,
        svc: VirtualService,
        client_addr: str,
        client_port: int = 0,
        *,
        dst_addr: str | None = None,
        proto: str | None = None,
    ) -> Dest | None:
        dests = svc.dests
        n = len(dests)
        if self.pos is None:
            start, count = 0, n  # one pass over every dest
        else:
            try:
                start = dests.index(self.pos) + 1
            except ValueError:  # cannot happen via VirtualService; behave as at HEAD
                start, self.pos = 0, None
            count = n  # dests after pos, then first .. pos inclusive
        for i in range(count):
            d = dests[(start + i) % n]
            if not d.flags & IP_VS_DEST_F_OVERLOAD and d.weight > 0:
                self.pos = d
                return d
        svc.scheduler_err("no destination available")
        return None
