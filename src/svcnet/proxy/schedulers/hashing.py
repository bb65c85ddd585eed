"""Kernel hash primitives used by the IPVS hashing schedulers (dh, sh, mh, lblc).

Theory of operation
-------------------
Every function here is a bit-exact model of a Linux helper, operating on Python ints that are
masked to the C width of the original, so that a table built here lands every key in the same
bucket as the kernel does:

* ``hash_32(v, bits)`` -- ``include/linux/hash.h``: ``(v * GOLDEN_RATIO_32) mod 2**32`` and keep the
  *high* ``bits`` bits.  ``GOLDEN_RATIO_32 = 0x61C88647``.  (Arches with ``CONFIG_HAVE_ARCH_HASH``
  may override ``__hash_32``; x86-64 and arm64 use this generic form.)
* ``fold_addr(addr)`` -- the address fold of ``ip_vs_{dh,sh,mh}_hashkey()``: an IPv4 address is
  ``ntohl(addr)``; an IPv6 address is ``ntohl(w0 ^ w1 ^ w2 ^ w3)`` over its four 32-bit words.  XOR
  commutes with the byte swap, so that equals the XOR of the four big-endian words.
* ``siphash(data, k0, k1, c, d)`` -- generic SipHash-c-d over bytes (``lib/siphash.c``); with
  ``c=2, d=4`` it is the kernel's ``siphash()`` and reproduces the reference vectors.
* ``hsiphash_u32(v, k0, k1)`` -- the kernel's ``hsiphash(&v, 4, key)`` on a **64-bit** kernel:
  SipHash-1-3 (64-bit state, one compression round, three finalisation rounds) over the 4 bytes of
  ``v`` in host order (little-endian on x86-64/arm64), result truncated to 32 bits.  This is what
  ``ip_vs_mh.c`` hashes with.
* ``hsiphash32_u32(v, k0, k1)`` -- the same call on a **32-bit** kernel, where ``hsiphash`` is
  HalfSipHash-1-3 (32-bit state, returns ``v1 ^ v3``).  Only offered for completeness: mh tables
  differ between 32- and 64-bit kernels.

Legacy formulas: kernels before the switch to ``hash_32`` (the exact release is not pinned down; see
``/work/shared/reference/ipvs.md`` §7/§8) hashed with Knuth's multiplicative constant and kept the
*low* bits: ``(fold * 2654435761) & mask``.  ``knuth_hash`` models that.

Verified against ``Kingxukai/linux`` (a >= v6.16 mainline mirror): ``lib/siphash.c``,
``net/netfilter/ipvs/ip_vs_{dh,sh,mh}.c``; vectors from ``lib/test_siphash.c``.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

__all__ = [
    "GOLDEN_RATIO_32",
    "KNUTH_32",
    "MH_HASH1_KEY",
    "MH_HASH2_KEY",
    "fold_addr",
    "hash_32",
    "hsiphash32_u32",
    "hsiphash_u32",
    "knuth_hash",
    "siphash",
]

GOLDEN_RATIO_32 = 0x61C88647
#: Knuth's multiplicative constant (2654435761 = 0x9E3779B1) used by the pre-hash_32 kernels.
KNUTH_32 = 2654435761
#: ip_vs_mh.c generate_hash_secret(): fixed keys, k0 == k1.
MH_HASH1_KEY = (2654435761, 2654435761)
MH_HASH2_KEY = (2654446892, 2654446892)

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF


def hash_32(value: int, bits: int) -> int:
    """``include/linux/hash.h`` hash_32(): multiply by GOLDEN_RATIO_32, keep the high ``bits``."""
    return ((value * GOLDEN_RATIO_32) & _M32) >> (32 - bits)


def knuth_hash(value: int, mask: int) -> int:
    """Pre-hash_32 IPVS hash: ``(value * 2654435761) & mask`` (the low bits)."""
    return (value * KNUTH_32) & mask


@lru_cache(maxsize=65536)
def fold_addr(addr: str) -> int:
    """IPVS address fold: IPv4 -> host-order u32; IPv6 -> XOR of its four 32-bit words."""
    ip = ipaddress.ip_address(addr)
    n = int(ip)
    if ip.version == 4:
        return n
    return (n ^ (n >> 32) ^ (n >> 64) ^ (n >> 96)) & _M32


# --- SipHash (64-bit state) ------------------------------------------------------------------


def _sipround(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    # SIPHASH_PERMUTATION (include/linux/siphash.h): rotations 13/32, 16, 21, 17/32.
    v0 = (v0 + v1) & _M64
    v1 = ((v1 << 13) | (v1 >> 51)) & _M64
    v1 ^= v0
    v0 = ((v0 << 32) | (v0 >> 32)) & _M64
    v2 = (v2 + v3) & _M64
    v3 = ((v3 << 16) | (v3 >> 48)) & _M64
    v3 ^= v2
    v0 = (v0 + v3) & _M64
    v3 = ((v3 << 21) | (v3 >> 43)) & _M64
    v3 ^= v0
    v2 = (v2 + v1) & _M64
    v1 = ((v1 << 17) | (v1 >> 47)) & _M64
    v1 ^= v2
    v2 = ((v2 << 32) | (v2 >> 32)) & _M64
    return v0, v1, v2, v3


def siphash(data: bytes, k0: int, k1: int, c_rounds: int = 2, d_rounds: int = 4) -> int:
    """SipHash-c-d of ``data`` with the 128-bit key ``(k0, k1)`` (two little-endian u64 halves)."""
    v0 = 0x736F6D6570736575 ^ k0
    v1 = 0x646F72616E646F6D ^ k1
    v2 = 0x6C7967656E657261 ^ k0
    v3 = 0x7465646279746573 ^ k1
    n = len(data)
    full = n - (n % 8)
    for i in range(0, full, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v3 ^= m
        for _ in range(c_rounds):
            v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
        v0 ^= m
    b = ((n & 0xFF) << 56) | int.from_bytes(data[full:], "little")
    v3 ^= b
    for _ in range(c_rounds):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0 ^= b
    v2 ^= 0xFF
    for _ in range(d_rounds):
        v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


def hsiphash_u32(value: int, k0: int, k1: int) -> int:
    """64-bit kernel ``hsiphash(&u32, 4, key)``: SipHash-1-3 of 4 LE bytes, low 32 bits.

    Unrolled equivalent of ``siphash(value.to_bytes(4, "little"), k0, k1, 1, 3) & 0xffffffff``
    (it is the hot path of every mh lookup): with a 4-byte message there is no full block, so
    ``b = (4 << 56) | value`` is the only word mixed in.
    """
    v0 = 0x736F6D6570736575 ^ k0
    v1 = 0x646F72616E646F6D ^ k1
    v2 = 0x6C7967656E657261 ^ k0
    v3 = 0x7465646279746573 ^ k1
    b = (4 << 56) | (value & _M32)
    v3 ^= b
    v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0 ^= b
    v2 ^= 0xFF
    v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    v0, v1, v2, v3 = _sipround(v0, v1, v2, v3)
    return (v0 ^ v1 ^ v2 ^ v3) & _M32


# --- HalfSipHash-1-3 (32-bit kernels) --------------------------------------------------------


def _hsipround(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    # HSIPHASH_PERMUTATION: rotations 5/16, 8, 7, 13/16 on 32-bit words.
    v0 = (v0 + v1) & _M32
    v1 = ((v1 << 5) | (v1 >> 27)) & _M32
    v1 ^= v0
    v0 = ((v0 << 16) | (v0 >> 16)) & _M32
    v2 = (v2 + v3) & _M32
    v3 = ((v3 << 8) | (v3 >> 24)) & _M32
    v3 ^= v2
    v0 = (v0 + v3) & _M32
    v3 = ((v3 << 7) | (v3 >> 25)) & _M32
    v3 ^= v0
    v2 = (v2 + v1) & _M32
    v1 = ((v1 << 13) | (v1 >> 19)) & _M32
    v1 ^= v2
    v2 = ((v2 << 16) | (v2 >> 16)) & _M32
    return v0, v1, v2, v3


def halfsiphash13(data: bytes, k0: int, k1: int) -> int:
    """32-bit kernel ``hsiphash()``: HalfSipHash-1-3 with the 64-bit key ``(k0, k1)`` (u32 halves)."""
    v0 = 0 ^ k0
    v1 = 0 ^ k1
    v2 = 0x6C796765 ^ k0
    v3 = 0x74656462 ^ k1
    n = len(data)
    full = n - (n % 4)
    for i in range(0, full, 4):
        m = int.from_bytes(data[i : i + 4], "little")
        v3 ^= m
        v0, v1, v2, v3 = _hsipround(v0, v1, v2, v3)
        v0 ^= m
    b = ((n & 0xFF) << 24) | int.from_bytes(data[full:], "little")
    v3 ^= b
    v0, v1, v2, v3 = _hsipround(v0, v1, v2, v3)
    v0 ^= b
    v2 ^= 0xFF
    for _ in range(3):
        v0, v1, v2, v3 = _hsipround(v0, v1, v2, v3)
    return v1 ^ v3


def hsiphash32_u32(value: int, k0: int, k1: int) -> int:
    """32-bit kernel ``hsiphash(&u32, 4, key)`` (HalfSipHash-1-3)."""
    return halfsiphash13((value & _M32).to_bytes(4, "little"), k0 & _M32, k1 & _M32)
