"""dh -- IPVS destination hashing (``net/netfilter/ipvs/ip_vs_dh.c``).

Theory of operation
-------------------
Table: ``2**IP_VS_DH_TAB_BITS`` buckets (8 bits -> 256; there is no Kconfig knob for dh, the
``#define`` is fixed, but ``tab_bits`` lets a caller model a patched kernel).

Rebuild on ``init_service``, ``add_dest`` and ``del_dest`` -- **not** on ``upd_dest`` (dh has no
such hook): bucket ``i`` gets ``dests[i % n]`` walking the list with wrap; weights are ignored.
An empty list makes every bucket empty.

Key: the packet's **destination** address (for a normal service that is the virtual address;
dh is meant for fwmark cache clusters where it is the origin server's).
``bucket = hash_32(fold(daddr), bits)`` (``hash_32`` keeps the high bits of
``fold * 0x61C88647``).  ``legacy_hash=True`` models older kernels that used
``(fold * 2654435761) & mask`` (the low bits).

Pick: the bucket's dest if it exists, is AVAILABLE, has ``weight > 0`` and is not OVERLOAD;
otherwise fail.  There is no fallback.
"""

from __future__ import annotations

from .base import IP_VS_DEST_F_AVAILABLE, IP_VS_DEST_F_OVERLOAD, Dest, Scheduler, VirtualService
from .hashing import fold_addr, hash_32, knuth_hash

__all__ = ["DestinationHashing"]


class DestinationHashing(Scheduler):
    """``dh``: static hash of the destination address onto a 256-bucket table."""

    name = "dh"

    def __init__(self, *, tab_bits: int = 8, legacy_hash: bool = False) -> None:
        if not 1 <= tab_bits <= 20:
            raise ValueError("dh tab_bits must be in 1..20")
        self.tab_bits = tab_bits
        self.size = 1 << tab_bits
        self.legacy_hash = legacy_hash
        self.buckets: list[Dest | None] = [None] * self.size

    def hashkey(self, addr: str) -> int:
        """``ip_vs_dh_hashkey``: the bucket index for ``addr``."""
        fold = fold_addr(addr)
        if self.legacy_hash:
            return knuth_hash(fold, self.size - 1)
        return hash_32(fold, self.tab_bits)

    def _reassign(self, svc: VirtualService) -> None:
        dests = svc.dests
        n = len(dests)
        if n == 0:
            self.buckets = [None] * self.size
        else:
            self.buckets = [dests[i % n] for i in range(self.size)]

    def init_service(self, svc: VirtualService) -> None:
        self._reassign(svc)

    def done_service(self, svc: VirtualService) -> None:
        self.buckets = [None] * self.size

    def add_dest(self, svc: VirtualService, dest: Dest) -> None:
        self._reassign(svc)

    def del_dest(self, svc: VirtualService, dest: Dest, old_index: int | None = None) -> None:
        self._reassign(svc)

    def schedule(
        self,
        svc: VirtualService,
        client_addr: str,
        client_port: int = 0,
        *,
        dst_addr: str | None = None,
        proto: str | None = None,
    ) -> Dest | None:
        d = self.buckets[self.hashkey(dst_addr if dst_addr is not None else svc.addr)]
        if (
            d is None
            or not d.flags & IP_VS_DEST_F_AVAILABLE
            or d.weight <= 0
            or d.flags & IP_VS_DEST_F_OVERLOAD
        ):
            svc.scheduler_err("no destination available")
            return None
        return d
