"""NodePort allocation: a bitmap over ``--service-node-port-range`` (upstream portallocator).

Theory of operation
-------------------
Upstream: ``pkg/registry/core/service/portallocator/{allocator.go,operation.go}`` and KEP-3668
"Reserved NodePort ranges for dynamic and static allocation"
(https://github.com/kubernetes/enhancements/tree/master/keps/sig-network/3668-reserved-service-nodeport-range).

The range is inclusive, ``30000-32767`` by default (base 30000, size 2768). Port ``p`` is bitmap
offset ``p - base``. KEP-3668 reserves a *static* lower band for users who pick their own
nodePort (``calculateRangeOffset``)::

    offset = 0                                  if size <= 16
           = min(max(16, size // 32), 128)      otherwise

so the default range has static band 30000-30085 and dynamic band 30086-32767. ``allocate_next``
uses the same two-phase random scan as the ClusterIP allocator
(:class:`svcnet.controllers.ipalloc.OffsetBitmap`): upper band from a random start, then the lower
band. The bitmap does not track protocol: a number is either free or taken.

Errors: ``provided port is not in the valid range. The range of valid ports is 30000-32767``,
``provided port is already allocated``, ``range is full``. Releasing a free or out-of-range port
is a no-op.

:class:`PortAllocationOperation` is upstream's ``PortAllocationOperation``: within one API write it
allocates immediately but *defers* releases to ``commit()`` ("It is better to leak ports than to
double-allocate them"); ``rollback()`` gives back what it allocated. In dry-run mode it never
touches the allocator: ``allocate`` only checks that the port is not already taken (by the
allocator or earlier in the same operation; upstream does no range check here), and
``allocate_next`` hands out dummy numbers counting up from 32769.

Nothing here does I/O.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from svcnet.controllers.ipalloc import (
    AlreadyAllocatedError,
    NotInRangeError,
    OffsetBitmap,
    RangeFullError,
)

__all__ = [
    "DEFAULT_NODE_PORT_RANGE",
    "PortAllocationOperation",
    "PortAllocator",
    "calculate_port_range_offset",
    "parse_port_range",
]

DEFAULT_NODE_PORT_RANGE: tuple[int, int] = (30000, 32767)
_PORT_OFFSET_MIN, _PORT_OFFSET_MAX, _PORT_OFFSET_STEP = 16, 128, 32


def calculate_port_range_offset(size: int) -> int:
    """KEP-3668 static band size for a node-port range of ``size`` ports."""
    if size <= _PORT_OFFSET_MIN:
        return 0
    return min(max(_PORT_OFFSET_MIN, size // _PORT_OFFSET_STEP), _PORT_OFFSET_MAX)


def parse_port_range(value: str | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``"30000-32767"``, ``"30000+2767"`` (base+extra, like utilnet.ParsePortRange) or ``(lo, hi)``."""
    if isinstance(value, (tuple, list)):
        lo, hi = int(value[0]), int(value[1])
    else:
        text = value.strip()
        if "-" in text:
            a, b = text.split("-", 1)
            lo, hi = int(a), int(b)
        elif "+" in text:
            a, b = text.split("+", 1)
            lo = int(a)
            hi = lo + int(b)
        else:
            lo = hi = int(text)
    if not (0 <= lo <= hi <= 65535):
        raise ValueError(f"invalid port range: {value!r}")
    return lo, hi


class PortAllocator:
    """Bitmap allocator over an inclusive port range (upstream ``portallocator.PortAllocator``)."""

    def __init__(
        self,
        port_range: str | tuple[int, int] = DEFAULT_NODE_PORT_RANGE,
        *,
        rng: random.Random | None = None,
    ):
        self.base, last = parse_port_range(port_range)
        self.size = last - self.base + 1
        self._bitmap = OffsetBitmap(self.size, calculate_port_range_offset(self.size), rng=rng)

    @property
    def range_string(self) -> str:
        """``30000-32767`` (utilnet.PortRange.String)."""
        return f"{self.base}-{self.base + self.size - 1}"

    @property
    def offset(self) -> int:
        return self._bitmap.offset

    @property
    def static_band(self) -> tuple[int, int] | None:
        if self.offset == 0:
            return None
        return self.base, self.base + self.offset - 1

    @property
    def dynamic_band(self) -> tuple[int, int]:
        return self.base + self.offset, self.base + self.size - 1

    def contains(self, port: int) -> bool:
        return self.base <= port < self.base + self.size

    def allocate(self, port: int) -> None:
        """Reserve ``port``. Raises :class:`NotInRangeError` or :class:`AlreadyAllocatedError`."""
        if not self.contains(port):
            raise NotInRangeError(
                "provided port is not in the valid range. The range of valid ports is "
                + self.range_string,
                self.range_string,
            )
        if not self._bitmap.allocate(port - self.base):
            raise AlreadyAllocatedError("port")

    def allocate_next(self) -> int:
        """Reserve a free port, dynamic band first. Raises :class:`RangeFullError`."""
        off = self._bitmap.allocate_next()
        if off is None:
            raise RangeFullError()
        return self.base + off

    def release(self, port: int) -> None:
        if self.contains(port):
            self._bitmap.release(port - self.base)

    def has(self, port: int) -> bool:
        return self.contains(port) and self._bitmap.has(port - self.base)

    @property
    def free(self) -> int:
        return self._bitmap.free

    @property
    def used(self) -> int:
        return self.size - self._bitmap.free

    def __iter__(self) -> Iterator[int]:
        for off in self._bitmap:
            yield self.base + off

    def allocated(self) -> set[int]:
        return set(self)

    def clear(self) -> None:
        self._bitmap.clear()

    def __repr__(self) -> str:
        return f"PortAllocator({self.range_string!r}, used={self.used}, free={self.free})"


class PortAllocationOperation:
    """Allocate now, release at commit, give back on rollback (upstream operation.go)."""

    def __init__(self, allocator: PortAllocator, *, dry_run: bool = False):
        self.allocator = allocator
        self.dry_run = dry_run
        self.allocated: list[int] = []
        self.release_deferred: list[int] = []
        self._should_rollback = True

    def allocate(self, port: int) -> None:
        if self.dry_run:
            if self.allocator.has(port) or port in self.allocated:
                raise AlreadyAllocatedError("port")
            self.allocated.append(port)
            return
        self.allocator.allocate(port)
        self.allocated.append(port)

    def allocate_next(self) -> int:
        if self.dry_run:
            # a dummy value: one past the largest port this operation has handed out, starting
            # from 32768 (the loop upstream runs `for port := last+1; port < 100` never executes)
            last = max(self.allocated) if self.allocated else 32768
            self.allocated.append(last + 1)
            return last + 1
        port = self.allocator.allocate_next()
        self.allocated.append(port)
        return port

    def release_deferred_port(self, port: int) -> None:
        """Mark ``port`` to be released if (and only if) this operation commits."""
        self.release_deferred.append(port)

    def commit(self) -> None:
        if not self.dry_run:
            for port in self.release_deferred:
                self.allocator.release(port)
        self._should_rollback = False

    def rollback(self) -> None:
        if not self.dry_run:
            for port in self.allocated:
                self.allocator.release(port)
        self.allocated = []

    def finish(self) -> None:
        """Roll back unless committed (call it in a ``finally``)."""
        if self._should_rollback:
            self.rollback()
            self._should_rollback = False
