"""NodePort allocator: KEP-3668 bands, exact errors, full range, the allocation operation.

Upstream: portallocator/allocator.go (calculateRangeOffset, ErrNotInRange/ErrAllocated/ErrFull),
portallocator/operation.go; service-api.md section 4.
"""

from __future__ import annotations

import random

import pytest

from svcnet.controllers.ipalloc import AlreadyAllocatedError, NotInRangeError, RangeFullError
from svcnet.controllers.portalloc import (
    PortAllocationOperation,
    PortAllocator,
    calculate_port_range_offset,
    parse_port_range,
)



class FixedStart(random.Random):
    """An RNG whose randrange always returns ``start`` (clamped into range)."""

    def __init__(self, start: int = 0):
        super().__init__(0)
        self.start = start

    def randrange(self, n, *args, **kwargs):  # type: ignore[override]
        return min(self.start, n - 1)


# (range, offset, static band, dynamic band) -- KEP-3668 examples and service-api.md §4
BANDS = [
    pytest.param((30000, 32767), 86, (30000, 30085), (30086, 32767), id="default"),
    pytest.param((20000, 32767), 128, (20000, 20127), (20128, 32767), id="20000-32767"),
    pytest.param((32567, 32767), 16, (32567, 32582), (32583, 32767), id="32567-32767"),
    pytest.param((30000, 30015), 0, None, (30000, 30015), id="size-16"),
    pytest.param((30000, 30016), 16, (30000, 30015), (30016, 30016), id="size-17"),
    pytest.param((30000, 30063), 16, (30000, 30015), (30016, 30063), id="size-64"),
    pytest.param((1, 65535), 128, (1, 128), (129, 65535), id="huge"),
]


@pytest.mark.parametrize("rng_,offset,static,dynamic", BANDS)
def test_port_allocator_bands(rng_, offset, static, dynamic):
    p = PortAllocator(rng_)
    assert p.offset == offset
    assert p.static_band == static
    assert p.dynamic_band == dynamic
    assert p.free == rng_[1] - rng_[0] + 1 and p.used == 0


@pytest.mark.parametrize(
    "size,offset", [(1, 0), (16, 0), (17, 16), (512, 16), (544, 17), (2768, 86), (4096, 128), (12768, 128)]
)
def test_calculate_port_range_offset_table(size, offset):
    assert calculate_port_range_offset(size) == offset


@pytest.mark.parametrize(
    "text,expected",
    [("30000-32767", (30000, 32767)), (" 100-200 ", (100, 200)), ("30000+2767", (30000, 32767)),
     ("8080", (8080, 8080)), ((1, 2), (1, 2))],
)
def test_parse_port_range(text, expected):
    assert parse_port_range(text) == expected


@pytest.mark.parametrize("text", ["200-100", "70000-70001", "abc", "-5-10"])
def test_parse_port_range_rejects(text):
    with pytest.raises(ValueError):
        parse_port_range(text)


def test_port_allocator_default_errors():
    p = PortAllocator()
    assert p.range_string == "30000-32767"
    for bad in (1, 29999, 32768, -1, 0):
        with pytest.raises(NotInRangeError) as e:
            p.allocate(bad)
        assert str(e.value) == (
            "provided port is not in the valid range. The range of valid ports is 30000-32767"
        )
    p.allocate(30080)
    with pytest.raises(AlreadyAllocatedError) as e:
        p.allocate(30080)
    assert str(e.value) == "provided port is already allocated"


def test_port_allocator_dynamic_band_first_then_full():
    p = PortAllocator((30000, 30063), rng=random.Random(3))  # offset 16
    first = {p.allocate_next() for _ in range(48)}
    assert first == set(range(30016, 30064))
    rest = {p.allocate_next() for _ in range(16)}
    assert rest == set(range(30000, 30016))
    with pytest.raises(RangeFullError) as e:
        p.allocate_next()
    assert str(e.value) == "range is full"


def test_port_allocator_default_range_dynamic_pick():
    p = PortAllocator(rng=FixedStart(0))
    assert p.allocate_next() == 30086  # the first dynamic-band port
    p2 = PortAllocator(rng=random.Random(1))
    for _ in range(50):
        assert 30086 <= p2.allocate_next() <= 32767


def test_port_allocator_static_fallback():
    p = PortAllocator((30000, 30016), rng=FixedStart(3))  # offset 16, dynamic band = {30016}
    assert p.allocate_next() == 30016
    assert p.allocate_next() == 30003


def test_port_allocator_release_has_iter():
    p = PortAllocator((30000, 30007))
    for port in (30001, 30005):
        p.allocate(port)
    assert p.has(30001) and not p.has(30002) and not p.has(1)
    assert list(p) == [30001, 30005] and p.allocated() == {30001, 30005}
    p.release(30001)
    p.release(30001)
    p.release(12)  # out of range: no-op
    assert list(p) == [30005] and p.used == 1 and p.free == 7
    p.clear()
    assert p.used == 0


def test_port_operation_commit_releases_deferred():
    p = PortAllocator()
    p.allocate(30100)
    op = PortAllocationOperation(p)
    op.allocate(30200)
    n = op.allocate_next()
    op.release_deferred_port(30100)
    assert p.has(30100)  # not yet
    op.commit()
    op.finish()  # after commit: nothing to roll back
    assert p.allocated() == {30200, n}


def test_port_operation_rollback_gives_back():
    p = PortAllocator()
    p.allocate(30100)
    op = PortAllocationOperation(p)
    op.allocate(30200)
    op.allocate_next()
    op.release_deferred_port(30100)
    op.finish()
    assert p.allocated() == {30100}


def test_port_operation_errors_propagate():
    p = PortAllocator()
    p.allocate(30100)
    op = PortAllocationOperation(p)
    with pytest.raises(AlreadyAllocatedError):
        op.allocate(30100)
    with pytest.raises(NotInRangeError):
        op.allocate(1)
    assert op.allocated == []


def test_port_operation_dry_run_takes_nothing():
    p = PortAllocator()
    p.allocate(30100)
    op = PortAllocationOperation(p, dry_run=True)
    with pytest.raises(AlreadyAllocatedError):
        op.allocate(30100)
    op.allocate(30200)
    with pytest.raises(AlreadyAllocatedError):
        op.allocate(30200)  # already taken earlier in the same operation
    op.allocate(1)  # upstream: no range check in dry-run
    assert op.allocate_next() == 30201
    op2 = PortAllocationOperation(p, dry_run=True)
    assert op2.allocate_next() == 32769  # upstream's dummy value
    op.release_deferred_port(30100)
    op.commit()
    op2.finish()
    assert p.allocated() == {30100}
