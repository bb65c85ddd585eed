"""ClusterIP allocation: one bitmap allocator per service CIDR (upstream bitmap allocator).

Theory of operation
-------------------
Upstream: ``pkg/registry/core/service/ipallocator/bitmap.go`` (``Range``),
``pkg/registry/core/service/allocator/bitmap.go`` (``AllocationBitmap`` with
``randomScanStrategyWithOffset``) and KEP-3070 "Reserve Service IP Ranges For Dynamic and Static
IP Allocation" (https://github.com/kubernetes/enhancements/tree/master/keps/sig-network/3070-reserved-service-ip-range).

Addresses of a CIDR map to bitmap *offsets*: offset 0 is ``network + 1`` (the network address
itself is never allocatable, and never releasable). IPv4 also excludes the broadcast address, so
a /24 has 254 offsets; IPv6 excludes only the network address and the bitmap is capped at
65536 entries before that subtraction (so at most 65535 usable offsets)::

    max = size - 2            (IPv4)
    max = min(size, 65536) - 1 (IPv6)

KEP-3070 splits the offsets into a *static* lower band ``[0, offset)`` and a *dynamic* upper band
``[offset, max)`` (``calculateRangeOffset``, computed from the full CIDR size)::

    offset = 0                                  if size <= 16
           = min(max(16, size // 16), 256)      otherwise

``allocate_next`` (dynamic allocation) scans the upper band from a random start, wrapping
inside the band, and takes the first free offset; only when the upper band is full does it scan
the static band the same way. So users who pick addresses in the static band (``clusterIP:
10.96.0.10``) rarely collide with dynamic allocations. ``allocate(ip)`` accepts an address in
either band. The RNG is injectable so tests can pin the random start.

Errors (``interfaces.go``): ``range is full``, ``provided IP is already allocated``,
``provided IP <ip> is not in the valid range``. ``release`` of an address that is not allocated
or not in range is a no-op. A *dry-run* view (``Range.DryRun``) range-checks ``allocate`` but does
not check whether the address is free and takes nothing; its ``allocate_next`` returns the
CIDR's network address (e.g. ``10.96.0.0``) without looking for a free one.

The kube-apiserver refuses a service CIDR with fewer than 8 addresses
(``pkg/controlplane/apiserver/options`` ``ServiceIPRange``: ``the service cluster IP range must
be at least 8 IP addresses``) and, for the bitmap allocator, an IPv4 CIDR larger than /12
(``specified --service-cluster-ip-range is too large; for 32-bit addresses, the mask must be >=
12``). Upstream also limits IPv6 to /108 there; we accept larger IPv6 prefixes (as the newer
IPAddress allocator does) and use the first 65536 addresses. :class:`ClusterIPAllocators` holds one allocator per configured
family, primary (first CIDR of ``--service-cluster-ip-range``) first.

Nothing here does I/O.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator, Sequence
from typing import Union

from svcnet.api.errors import SvcnetError

__all__ = [
    "AllocationError",
    "AlreadyAllocatedError",
    "CIDRAllocator",
    "ClusterIPAllocators",
    "DryRunCIDRAllocator",
    "NotInRangeError",
    "OffsetBitmap",
    "RangeFullError",
    "calculate_ip_range_offset",
    "ip_family",
]

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

#: `allocator.bitmap` caps an IPv6 range's bitmap at this many entries (ipallocator/bitmap.go New)
IPV6_BITMAP_CAP = 65536
#: KEP-3070 constants for min(max($min, cidrSize/$step), $max)
_IP_OFFSET_MIN, _IP_OFFSET_MAX, _IP_OFFSET_STEP = 16, 256, 16
MIN_CIDR_ADDRESSES = 8
#: kube-apiserver flag validation for the bitmap allocator (maxCIDRBits = 20). Only enforced for
#: IPv4: larger IPv6 prefixes (e.g. /64, which the newer IPAddress allocator accepts) just get the
#: 65536-entry bitmap.
MAX_CIDR_HOST_BITS = 20


# --------------------------------------------------------------------------------------------
# Errors


class AllocationError(SvcnetError):
    """An allocator refused a request. ``str(err)`` is the upstream error text."""


class RangeFullError(AllocationError):
    """``ErrFull``: no free value left in the range."""

    def __init__(self) -> None:
        super().__init__("range is full")


class AlreadyAllocatedError(AllocationError):
    """``ErrAllocated``: the requested value is taken."""

    def __init__(self, what: str = "IP") -> None:
        super().__init__(f"provided {what} is already allocated")


class NotInRangeError(AllocationError):
    """``ErrNotInRange``: the requested value lies outside the allocatable range."""

    def __init__(self, message: str, valid_range: str) -> None:
        super().__init__(message)
        self.valid_range = valid_range


# --------------------------------------------------------------------------------------------
# The bitmap with a static/dynamic split (allocator/bitmap.go randomScanStrategyWithOffset)


class OffsetBitmap:
    """``max`` slots; ``allocate_next`` prefers ``[offset, max)`` and falls back to ``[0, offset)``.

    One byte per slot (a /12 costs 1 MiB) so the free-slot scan is ``bytearray.find`` in C.
    """

    __slots__ = ("_bits", "_count", "_rng", "max", "offset")

    def __init__(self, max_: int, offset: int = 0, *, rng: random.Random | None = None):
        if max_ < 0:
            raise ValueError("bitmap size must not be negative")
        if not 0 <= offset < max(max_, 1):
            # upstream: "The offset value must be always smaller than the bitmap size"
            offset = 0
        self.max = max_
        self.offset = offset
        self._bits = bytearray(max_)
        self._count = 0
        self._rng = rng if rng is not None else random.Random()

    def allocate(self, i: int) -> bool:
        """Take slot ``i``; False if it was already taken."""
        if not 0 <= i < self.max:
            raise IndexError(f"offset {i} out of range [0,{self.max}]")
        if self._bits[i]:
            return False
        self._bits[i] = 1
        self._count += 1
        return True

    def allocate_next(self) -> int | None:
        """Take a free slot (two-phase random scan) or return None when the map is full."""
        if self._count >= self.max:
            return None
        sub = self.max - self.offset
        # phase 1: upper (dynamic) band, random start, wrap inside the band
        start = self._rng.randrange(sub)
        at = self._find_free(self.offset + start, self.max)
        if at < 0:
            at = self._find_free(self.offset, self.offset + start)
        if at < 0 and self.offset > 0:
            # phase 2: lower (static) band, only once the upper band is exhausted
            start = self._rng.randrange(self.offset)
            at = self._find_free(start, self.offset)
            if at < 0:
                at = self._find_free(0, start)
        if at < 0:
            return None
        self._bits[at] = 1
        self._count += 1
        return at

    def _find_free(self, lo: int, hi: int) -> int:
        if lo >= hi:
            return -1
        return self._bits.find(0, lo, hi)

    def release(self, i: int) -> None:
        if 0 <= i < self.max and self._bits[i]:
            self._bits[i] = 0
            self._count -= 1

    def has(self, i: int) -> bool:
        return 0 <= i < self.max and bool(self._bits[i])

    @property
    def count(self) -> int:
        return self._count

    @property
    def free(self) -> int:
        return self.max - self._count

    def __iter__(self) -> Iterator[int]:
        """Allocated slots in ascending order."""
        bits, i = self._bits, -1
        while True:
            i = bits.find(1, i + 1)
            if i < 0:
                return
            yield i

    def clear(self) -> None:
        self._bits = bytearray(self.max)
        self._count = 0


# --------------------------------------------------------------------------------------------
# ClusterIP range


def ip_family(ip: str | IPAddress) -> str:
    """``IPv4`` or ``IPv6`` for a parseable address, ``unknown`` otherwise (alloc.go familyOf)."""
    try:
        addr = ip if not isinstance(ip, str) else ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    return "IPv4" if addr.version == 4 else "IPv6"


def calculate_ip_range_offset(num_addresses: int) -> int:
    """KEP-3070 static band size for a CIDR of ``num_addresses`` (network/broadcast included)."""
    if num_addresses <= _IP_OFFSET_MIN:
        return 0
    return min(max(_IP_OFFSET_MIN, num_addresses // _IP_OFFSET_STEP), _IP_OFFSET_MAX)


def _parse_ip(ip: str | IPAddress) -> IPAddress:
    if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return ip
    return ipaddress.ip_address(str(ip).strip())


class CIDRAllocator:
    """The bitmap ClusterIP allocator of one service CIDR (upstream ``ipallocator.Range``)."""

    def __init__(self, cidr: str, *, rng: random.Random | None = None):
        net = ipaddress.ip_network(cidr, strict=False)
        if min(net.num_addresses, 1 << 16) < MIN_CIDR_ADDRESSES:
            raise ValueError("the service cluster IP range must be at least 8 IP addresses")
        if net.version == 4 and net.max_prefixlen - net.prefixlen > MAX_CIDR_HOST_BITS:
            raise ValueError(
                "specified --service-cluster-ip-range is too large; for 32-bit addresses, the mask must be >= 12"
            )
        self.network = net
        self.family = "IPv4" if net.version == 4 else "IPv6"
        size = net.num_addresses
        if net.version == 6:
            size = min(size, IPV6_BITMAP_CAP)
        else:
            size -= 1  # broadcast
        size -= 1  # network address
        self._base = int(net.network_address) + 1
        self._bitmap = OffsetBitmap(max(size, 0), calculate_ip_range_offset(net.num_addresses), rng=rng)

    # -- geometry -----------------------------------------------------------------------------

    @property
    def cidr(self) -> str:
        return str(self.network)

    @property
    def max(self) -> int:
        """Number of allocatable addresses."""
        return self._bitmap.max

    @property
    def offset(self) -> int:
        """Size of the KEP-3070 static band."""
        return self._bitmap.offset

    def _addr(self, offset: int) -> IPAddress:
        if self.network.version == 4:
            return ipaddress.IPv4Address(self._base + offset)
        return ipaddress.IPv6Address(self._base + offset)

    @property
    def first(self) -> str:
        return str(self._addr(0))

    @property
    def last(self) -> str:
        return str(self._addr(self.max - 1))

    @property
    def static_band(self) -> tuple[str, str] | None:
        """First and last address of the static band (None when the range has no offset)."""
        if self.offset == 0:
            return None
        return str(self._addr(0)), str(self._addr(self.offset - 1))

    @property
    def dynamic_band(self) -> tuple[str, str]:
        return str(self._addr(self.offset)), str(self._addr(self.max - 1))

    def _offset_of(self, ip: IPAddress) -> int | None:
        """The bitmap offset of ``ip``, or None when it is not allocatable here (``contains``)."""
        if ip.version != self.network.version or ip not in self.network:
            return None
        off = int(ip) - self._base
        if off < 0 or off >= self.max:
            return None
        return off

    def contains(self, ip: str | IPAddress) -> bool:
        """True when ``ip`` is an allocatable address of this range (network/broadcast are not)."""
        try:
            return self._offset_of(_parse_ip(ip)) is not None
        except ValueError:
            return False

    # -- allocation ---------------------------------------------------------------------------

    def _not_in_range(self, ip: IPAddress) -> NotInRangeError:
        return NotInRangeError(f"provided IP {ip} is not in the valid range", self.cidr)

    def allocate(self, ip: str | IPAddress) -> None:
        """Reserve ``ip``. Raises :class:`NotInRangeError` or :class:`AlreadyAllocatedError`."""
        addr = _parse_ip(ip)
        off = self._offset_of(addr)
        if off is None:
            raise self._not_in_range(addr)
        if not self._bitmap.allocate(off):
            raise AlreadyAllocatedError("IP")

    def allocate_next(self) -> str:
        """Reserve a free address, dynamic band first. Raises :class:`RangeFullError`."""
        off = self._bitmap.allocate_next()
        if off is None:
            raise RangeFullError()
        return str(self._addr(off))

    def release(self, ip: str | IPAddress) -> None:
        """Give ``ip`` back; a no-op when it is not allocated or not in range."""
        try:
            off = self._offset_of(_parse_ip(ip))
        except ValueError:
            return
        if off is not None:
            self._bitmap.release(off)

    def has(self, ip: str | IPAddress) -> bool:
        try:
            off = self._offset_of(_parse_ip(ip))
        except ValueError:
            return False
        return off is not None and self._bitmap.has(off)

    @property
    def free(self) -> int:
        return self._bitmap.free

    @property
    def used(self) -> int:
        return self.max - self._bitmap.free

    def __iter__(self) -> Iterator[str]:
        """Allocated addresses, ascending (``ForEach``)."""
        for off in self._bitmap:
            yield str(self._addr(off))

    def allocated(self) -> set[str]:
        return set(self)

    def clear(self) -> None:
        """Forget every allocation (used by repair, which rebuilds the map from the store)."""
        self._bitmap.clear()

    def dry_run(self) -> DryRunCIDRAllocator:
        return DryRunCIDRAllocator(self)

    def __repr__(self) -> str:
        return f"CIDRAllocator({self.cidr!r}, used={self.used}, free={self.free})"


class DryRunCIDRAllocator:
    """A non-persisting view of a :class:`CIDRAllocator` (upstream ``dryRunRange``)."""

    def __init__(self, real: CIDRAllocator):
        self.real = real
        self.family = real.family

    def allocate(self, ip: str | IPAddress) -> None:
        # Upstream only range-checks: "Don't bother to check whether the IP is actually free.
        # It's racy and not worth the effort to plumb any further."
        addr = _parse_ip(ip)
        if self.real._offset_of(addr) is None:
            raise self.real._not_in_range(addr)

    def allocate_next(self) -> str:
        return str(self.real.network.network_address)

    def release(self, ip: str | IPAddress) -> None:
        return None

    def has(self, ip: str | IPAddress) -> bool:
        return self.real.has(ip)

    def dry_run(self) -> DryRunCIDRAllocator:
        return self


# --------------------------------------------------------------------------------------------
# Dual-stack configuration


class ClusterIPAllocators:
    """One :class:`CIDRAllocator` per configured family; the first CIDR's family is primary."""

    def __init__(self, cidrs: Sequence[str], *, rng: random.Random | None = None):
        if isinstance(cidrs, str):
            cidrs = [c for c in cidrs.split(",") if c.strip()]
        if not 1 <= len(cidrs) <= 2:
            raise ValueError("service CIDRs: expected one CIDR, or two of different families")
        allocs = [CIDRAllocator(c.strip(), rng=rng) for c in cidrs]
        if len(allocs) == 2 and allocs[0].family == allocs[1].family:
            raise ValueError(
                "service CIDRs: a dual-stack configuration needs one IPv4 and one IPv6 CIDR"
            )
        self._by_family: dict[str, CIDRAllocator] = {a.family: a for a in allocs}
        self.primary_family: str = allocs[0].family

    @property
    def families(self) -> tuple[str, ...]:
        """Configured families, primary first."""
        return tuple(self._by_family)

    @property
    def is_dual_stack(self) -> bool:
        return len(self._by_family) == 2

    @property
    def primary(self) -> CIDRAllocator:
        return self._by_family[self.primary_family]

    def __contains__(self, family: object) -> bool:
        return family in self._by_family

    def __getitem__(self, family: str) -> CIDRAllocator:
        return self._by_family[family]

    def get(self, family: str) -> CIDRAllocator | None:
        return self._by_family.get(family)

    def __iter__(self) -> Iterator[CIDRAllocator]:
        return iter(self._by_family.values())

    def __len__(self) -> int:
        return len(self._by_family)

    def for_ip(self, ip: str) -> CIDRAllocator | None:
        """The allocator of ``ip``'s family (whether or not ``ip`` is in its range)."""
        return self._by_family.get(ip_family(ip))

    def allocated(self) -> set[str]:
        out: set[str] = set()
        for a in self:
            out |= a.allocated()
        return out

    def clear(self) -> None:
        for a in self:
            a.clear()
