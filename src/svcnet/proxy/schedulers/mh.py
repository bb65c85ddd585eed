"""mh -- IPVS Maglev hashing (``net/netfilter/ipvs/ip_vs_mh.c``), flags mh-fallback, mh-port.

Theory of operation
-------------------
Table size ``M = primes[CONFIG_IP_VS_MH_TAB_INDEX - 8]`` with primes 251, 509, 1021, 2039, 4093,
8191, 16381, 32749, 65521, 131071 (Kconfig range 8..17, default 12 -> **M = 4093**);
``TAB_BITS = INDEX // 2``.

Hash: ``hashkey(addr, port, key, offset) = hsiphash(v, key)`` with
``v = (offset + port + fold(addr)) mod 2**32`` -- on 64-bit kernels SipHash-1-3 over ``v``'s four
little-endian bytes truncated to 32 bits (``word_bits=32`` selects HalfSipHash-1-3, what a 32-bit
kernel computes).  The keys are fixed: ``hash1 = (2654435761, 2654435761)``,
``hash2 = (2654446892, 2654446892)``.

Rebuild on ``init_service``, ``add_dest``, ``del_dest`` and ``upd_dest``:

1. ``g`` = gcd of the ``last_weight`` values > 0 (0 if none); ``rshift = max(0,
   bit_length(max_last_weight // g) - TAB_BITS)``.  ``last_weight`` -- not ``weight`` -- is used,
   so quiescing a dest (weight 0) leaves the table unchanged; lookups that land on it treat it
   as unavailable.
2. If ``g < 1``: every slot empty.  If ``num_dests > M``: the kernel returns ``-EINVAL`` from the
   hook, which ``__ip_vs_update_dest`` ignores -- the old table stays (modelled).
3. Per dest, in list order: ``offset = hashkey(d.addr, d.port, hash1, 0) % M``,
   ``skip = hashkey(d.addr, d.port, hash2, 0) % (M - 1) + 1`` (the dest **port** is part of the
   key), ``turns = (last_weight // g) >> rshift`` or, if that is 0, ``1 if last_weight else 0``.
4. Populate until all M slots are taken: walk the dests in list order, skipping ``turns < 1``;
   the current dest claims the next free slot of its permutation (``perm += skip`` mod M while
   taken), then stays for ``turns`` claims in a row before moving on (wrapping to the first).

Lookup: ``port`` is the client source port with ``mh-port`` (``IP_VS_SVC_F_SCHED2``) for
TCP/UDP/SCTP, else 0; ``ih = hashkey(client, port, hash1, 0) % M``.  A dest is unavailable when
``weight <= 0`` or OVERLOAD.

* Without ``mh-fallback``: ``lookup[ih]`` unless empty or unavailable.
* With ``mh-fallback`` (``IP_VS_SVC_F_SCHED1``): fail on an empty slot, return an available one;
  otherwise for ``off`` in ``0..M-1`` re-hash with ``offset = (off + ih) % M`` and probe
  ``lookup[hashkey(client, port, hash1, offset) % M]``, stopping at an empty slot.
"""

from __future__ import annotations

from math import gcd

from .base import (
    IP_VS_DEST_F_OVERLOAD,
    IP_VS_SVC_F_MH_FALLBACK,
    IP_VS_SVC_F_MH_PORT,
    PORT_PROTOCOLS,
    Dest,
    Scheduler,
    VirtualService,
)
from .hashing import MH_HASH1_KEY, MH_HASH2_KEY, fold_addr, hsiphash32_u32, hsiphash_u32

__all__ = ["MH_PRIMES", "MaglevHashing"]

MH_PRIMES = (251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071)

_M32 = 0xFFFFFFFF


def _unavailable(d: Dest) -> bool:
    return d.weight <= 0 or bool(d.flags & IP_VS_DEST_F_OVERLOAD)


class MaglevHashing(Scheduler):
    """``mh``: Maglev consistent hashing over a prime-sized lookup table."""

    name = "mh"

    def __init__(self, *, tab_index: int = 12, word_bits: int = 64) -> None:
        if not 8 <= tab_index <= 17:
            raise ValueError("mh tab_index must be in 8..17 (CONFIG_IP_VS_MH_TAB_INDEX)")
        if word_bits not in (32, 64):
            raise ValueError("word_bits must be 64 (SipHash-1-3) or 32 (HalfSipHash-1-3)")
        self.tab_index = tab_index
        self.tab_bits = tab_index // 2
        self.size = MH_PRIMES[tab_index - 8]
        self.word_bits = word_bits
        self._hsip = hsiphash_u32 if word_bits == 64 else hsiphash32_u32
        self.lookup: list[Dest | None] = [None] * self.size
        self.gcd = 0
        self.rshift = 0
        # (fold, port) -> (offset, skip): permutations only depend on the dest's address
        self._perm_cache: dict[tuple[int, int], tuple[int, int]] = {}

    # --- hashing ---------------------------------------------------------------------------

    def hashkey(self, addr: str | int, port: int, key: tuple[int, int], offset: int = 0) -> int:
        """``ip_vs_mh_hashkey``: ``hsiphash(offset + port + fold(addr))`` (32-bit result)."""
        fold = addr if isinstance(addr, int) else fold_addr(addr)
        return self._hsip((offset + port + fold) & _M32, key[0], key[1])

    def permutation(self, dest: Dest) -> tuple[int, int]:
        """``(offset, skip)`` of ``dest`` in this table."""
        k = (dest.fold, dest.port)
        perm = self._perm_cache.get(k)
        if perm is None:
            m = self.size
            offset = self.hashkey(dest.fold, dest.port, MH_HASH1_KEY) % m
            skip = self.hashkey(dest.fold, dest.port, MH_HASH2_KEY) % (m - 1) + 1
            perm = self._perm_cache[k] = (offset, skip)
        return perm

    # --- table -----------------------------------------------------------------------------

    @staticmethod
    def _gcd_weight(svc: VirtualService) -> int:
        g = 0
        for d in svc.dests:
            if d.last_weight > 0:
                g = gcd(d.last_weight, g) if g > 0 else d.last_weight
        return g

    def _shift_weight(self, svc: VirtualService, g: int) -> int:
        if g < 1:
            return 0
        mw = max((d.last_weight for d in svc.dests), default=0) // g
        return max(0, mw.bit_length() - self.tab_bits)  # fls(mw) - IP_VS_MH_TAB_BITS

    def turns(self, dest: Dest) -> int:
        """Consecutive slots ``dest`` claims per populate round."""
        lw = dest.last_weight
        if self.gcd < 1:
            return 0
        return ((lw // self.gcd) >> self.rshift) or (1 if lw != 0 else 0)

    def _reassign(self, svc: VirtualService) -> None:
        self.gcd = self._gcd_weight(svc)
        self.rshift = self._shift_weight(svc, self.gcd)
        dests = svc.dests
        m = self.size
        if len(dests) > m:
            return  # -EINVAL, ignored by the caller: the old table stays
        if self.gcd < 1:
            self.lookup = [None] * m
            return
        setup = []
        for d in dests:
            offset, skip = self.permutation(d)
            setup.append([d, offset, skip, self.turns(d)])  # perm starts at offset
        lookup: list[Dest | None] = [None] * m
        filled = bytearray(m)
        n = 0
        dt_count = 0
        i = 0
        nd = len(setup)
        while True:
            entry = setup[i]
            d, perm, skip, turns = entry
            if turns < 1:  # ignore an added server with zero weight
                i = (i + 1) % nd
                continue
            while filled[perm]:
                perm += skip
                if perm >= m:
                    perm -= m
            entry[1] = perm
            filled[perm] = 1
            lookup[perm] = d
            n += 1
            if n == m:
                break
            dt_count += 1
            if dt_count >= turns:
                dt_count = 0
                i = (i + 1) % nd
        self.lookup = lookup

    def init_service(self, svc: VirtualService) -> None:
        self._reassign(svc)

    def done_service(self, svc: VirtualService) -> None:
        self.lookup = [None] * self.size

    def _dest_changed(self, svc: VirtualService, dest: Dest, old_index: int | None = None) -> None:
        self._reassign(svc)

    add_dest = _dest_changed
    del_dest = _dest_changed
    upd_dest = _dest_changed

    def slot_counts(self) -> dict[int, int]:
        """``id(dest) -> number of lookup slots`` (for tests and explanations)."""
        counts: dict[int, int] = {}
        for d in self.lookup:
            if d is not None:
                counts[id(d)] = counts.get(id(d), 0) + 1
        return counts

    # --- scheduling ------------------------------------------------------------------------

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
        if svc.flags & IP_VS_SVC_F_MH_PORT and (proto or svc.protocol).upper() in PORT_PROTOCOLS:
            port = client_port
        fold = fold_addr(client_addr)
        m = self.size
        ih = self.hashkey(fold, port, MH_HASH1_KEY) % m
        d = self.lookup[ih]
        if svc.flags & IP_VS_SVC_F_MH_FALLBACK:
            if d is not None and _unavailable(d):
                d = None
                for off in range(m):
                    roffset = (off + ih) % m
                    probe = self.lookup[self.hashkey(fold, port, MH_HASH1_KEY, roffset) % m]
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
