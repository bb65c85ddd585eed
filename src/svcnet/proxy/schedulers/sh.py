"""sh -- IPVS source hashing (``net/netfilter/ipvs/ip_vs_sh.c``), flags sh-fallback, sh-port.

Theory of operation
-------------------
Table: ``2**CONFIG_IP_VS_SH_TAB_BITS`` buckets (Kconfig range 4..20, default 8 -> 256).

Rebuild on ``init_service``, ``add_dest``, ``del_dest`` **and** ``upd_dest``, using weights:
walking the list with wrap, each dest fills ``weight`` consecutive buckets (``++count >=
weight`` moves on, so a weight-0 dest still takes one bucket, where lookups then fail).  If the
weights add up past the table size the later dests get fewer buckets or none.

Key: the client (source) address and, with ``sh-port`` (``IP_VS_SVC_F_SCHED2`` = 0x10), the
client's source port for TCP/UDP/SCTP (0 otherwise):
``hashkey(addr, port, offset) = (offset + hash_32((port + fold(addr)) mod 2**32, bits)) & mask``.
``legacy_hash=True`` models older kernels: ``(offset + (port + fold) * 2654435761) & mask``.

A dest is unavailable when ``weight <= 0`` or OVERLOAD (AVAILABLE is not checked).

* Without ``sh-fallback``: the bucket at ``hashkey(addr, port, 0)``, or fail.
* With ``sh-fallback`` (``IP_VS_SVC_F_SCHED1`` = 0x08): fail if that bucket is empty, return it
  if available, else for ``off`` in ``0..size-1`` probe ``hashkey(addr, port, (off + ih) %
  size)`` -- which is ``(off + 2*ih) % size``: probing starts at twice the original bucket, a
  quirk of the source -- stopping (fail) at an empty bucket, returning the first available one.
"""

from __future__ import annotations

from .base import (
    IP_VS_DEST_F_OVERLOAD,
    IP_VS_SVC_F_SH_FALLBACK,
    IP_VS_SVC_F_SH_PORT,
    PORT_PROTOCOLS,
    Dest,
    Scheduler,
    VirtualService,
)
from .hashing import KNUTH_32, fold_addr, hash_32

__all__ = ["SourceHashing"]

_M32 = 0xFFFFFFFF


def _unavailable(d: Dest) -> bool:
    return d.weight <= 0 or bool(d.flags & IP_VS_DEST_F_OVERLOAD)


class SourceHashing(Scheduler):
    """``sh``: weighted static table indexed by a hash of the client address (and port)."""

    name = "sh"

    def __init__(self, *, tab_bits: int = 8, legacy_hash: bool = False) -> None:
        if not 4 <= tab_bits <= 20:
            raise ValueError("sh tab_bits must be in 4..20 (CONFIG_IP_VS_SH_TAB_BITS)")
        self.tab_bits = tab_bits
        self.size = 1 << tab_bits
        self.mask = self.size - 1
        self.legacy_hash = legacy_hash
        self.buckets: list[Dest | None] = [None] * self.size

    def hashkey(self, addr: str, port: int = 0, offset: int = 0) -> int:
        """``ip_vs_sh_hashkey(af, addr, port, offset)`` with a host-order ``port``."""
        v = (port + fold_addr(addr)) & _M32
        if self.legacy_hash:
            return (offset + v * KNUTH_32) & self.mask
        return (offset + hash_32(v, self.tab_bits)) & self.mask

    def _reassign(self, svc: VirtualService) -> None:
        dests = svc.dests
        if not dests:
            self.buckets = [None] * self.size
            return
        n = len(dests)
        buckets: list[Dest | None] = [None] * self.size
        p = 0
        count = 0
        for i in range(self.size):
            d = dests[p]
            buckets[i] = d
            count += 1
            if count >= d.weight:  # don't move to the next dest until its weight is filled
                p = (p + 1) % n
                count = 0
        self.buckets = buckets

    def init_service(self, svc: VirtualService) -> None:
        self._reassign(svc)

    def done_service(self, svc: VirtualService) -> None:
        self.buckets = [None] * self.size

    def add_dest(self, svc: VirtualService, dest: Dest) -> None:
        self._reassign(svc)

    def upd_dest(self, svc: VirtualService, dest: Dest) -> None:
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
        port = 0
        if svc.flags & IP_VS_SVC_F_SH_PORT and (proto or svc.protocol).upper() in PORT_PROTOCOLS:
            port = client_port
        ih = self.hashkey(client_addr, port, 0)
        d = self.buckets[ih]
        if svc.flags & IP_VS_SVC_F_SH_FALLBACK:
            if d is not None and _unavailable(d):
                d = None
                for off in range(self.size):
                    # hashkey(addr, port, r) == (r + ih) & mask: probing starts at 2*ih
                    probe = self.buckets[(((off + ih) % self.size) + ih) & self.mask]
                    if probe is None:
                        break
                    if not _unavailable(probe):
                        d = probe
                        break
        elif d is not None and _unavailable(d):
            d = None
        if d is None:
            svc.scheduler_err("no destination available")
        return d
