"""ClusterIP bitmap allocator: KEP-3070 bands, two-phase scan, exact errors, dry run.

Bands and offsets: service-api.md section 3 (upstream ipallocator/bitmap.go calculateRangeOffset,
allocator/bitmap.go randomScanStrategyWithOffset; cases mirror bitmap_test.go TestCalculateRangeOffset).
"""

from __future__ import annotations

import ipaddress
import random

import pytest

from svcnet.controllers.ipalloc import (
    AlreadyAllocatedError,
    CIDRAllocator,
    ClusterIPAllocators,
    NotInRangeError,
    OffsetBitmap,
    RangeFullError,
    calculate_ip_range_offset,
    ip_family,
)


class FixedStart(random.Random):
    """An RNG whose randrange always returns ``start`` (clamped into range)."""

    def __init__(self, start: int = 0):
        super().__init__(0)
        self.start = start
        self.calls: list[int] = []

    def randrange(self, n, *args, **kwargs):  # type: ignore[override]
        self.calls.append(n)
        return min(self.start, n - 1)


# (cidr, usable, offset, static band, dynamic band) -- service-api.md §3 table + IPv6 cap
BANDS = [
    pytest.param("10.0.0.0/29", 6, 0, None, ("10.0.0.1", "10.0.0.6"), id="v4-/29-min"),
    pytest.param("10.0.0.0/28", 14, 0, None, ("10.0.0.1", "10.0.0.14"), id="v4-/28"),
    pytest.param("10.0.0.0/27", 30, 16, ("10.0.0.1", "10.0.0.16"), ("10.0.0.17", "10.0.0.30"), id="v4-/27"),
    pytest.param("10.96.0.0/24", 254, 16, ("10.96.0.1", "10.96.0.16"), ("10.96.0.17", "10.96.0.254"), id="v4-/24"),
    pytest.param("10.96.0.0/20", 4094, 256, ("10.96.0.1", "10.96.1.0"), ("10.96.1.1", "10.96.15.254"), id="v4-/20"),
    pytest.param("10.96.0.0/12", 1048574, 256, ("10.96.0.1", "10.96.1.0"), ("10.96.1.1", "10.111.255.254"), id="v4-/12"),
    pytest.param("127.96.0.0/16", 65534, 256, ("127.96.0.1", "127.96.1.0"), ("127.96.1.1", "127.96.255.254"), id="v4-local"),
    pytest.param("fd00::/120", 255, 16, ("fd00::1", "fd00::10"), ("fd00::11", "fd00::ff"), id="v6-/120"),
    pytest.param("fd00::/112", 65535, 256, ("fd00::1", "fd00::100"), ("fd00::101", "fd00::ffff"), id="v6-/112"),
    pytest.param("fd00::/64", 65535, 256, ("fd00::1", "fd00::100"), ("fd00::101", "fd00::ffff"), id="v6-/64-capped"),
]


@pytest.mark.parametrize("cidr,usable,offset,static,dynamic", BANDS)
def test_cidr_allocator_bands(cidr, usable, offset, static, dynamic):
    a = CIDRAllocator(cidr)
    assert a.max == usable
    assert a.free == usable and a.used == 0
    assert a.offset == offset
    assert a.static_band == static
    assert a.dynamic_band == dynamic


# calculateRangeOffset(cidr size) -- upstream TestCalculateRangeOffset
OFFSETS = [(8, 0), (16, 0), (32, 16), (64, 16), (256, 16), (512, 32), (1024, 64), (2048, 128),
           (4096, 256), (1 << 20, 256), (1 << 64, 256)]


@pytest.mark.parametrize("size,offset", OFFSETS, ids=[f"size-{s}" for s, _ in OFFSETS])
def test_calculate_ip_range_offset_table(size, offset):
    assert calculate_ip_range_offset(size) == offset


@pytest.mark.parametrize("cidr", ["10.0.0.0/30", "10.0.0.0/31", "10.0.0.1/32", "fd00::/126", "fd00::/128"])
def test_cidr_allocator_minimum_size(cidr):
    with pytest.raises(ValueError, match=r"^the service cluster IP range must be at least 8 IP addresses$"):
        CIDRAllocator(cidr)


@pytest.mark.parametrize("cidr", ["10.0.0.0/11", "10.0.0.0/8"])
def test_cidr_allocator_maximum_size_ipv4(cidr):
    with pytest.raises(ValueError, match=r"for 32-bit addresses, the mask must be >= 12$"):
        CIDRAllocator(cidr)


def test_cidr_allocator_allocate_specific_and_errors():
    a = CIDRAllocator("10.96.0.0/12")
    a.allocate("10.96.0.10")
    assert a.has("10.96.0.10") and a.used == 1
    with pytest.raises(AlreadyAllocatedError) as e:
        a.allocate("10.96.0.10")
    assert str(e.value) == "provided IP is already allocated"
    with pytest.raises(NotInRangeError) as e:
        a.allocate("192.168.1.1")
    assert str(e.value) == "provided IP 192.168.1.1 is not in the valid range"


@pytest.mark.parametrize(
    "cidr,ip",
    [
        ("10.96.0.0/12", "10.96.0.0"),  # network address
        ("10.96.0.0/12", "10.111.255.255"),  # IPv4 broadcast
        ("10.96.0.0/12", "10.112.0.0"),
        ("10.96.0.0/12", "fd00::1"),  # other family
        ("fd00::/64", "fd00::"),  # IPv6 network address
        ("fd00::/64", "fd00::1:0"),  # beyond the 65536-entry bitmap
    ],
)
def test_cidr_allocator_not_in_range(cidr, ip):
    a = CIDRAllocator(cidr)
    assert not a.contains(ip)
    with pytest.raises(NotInRangeError, match=r"is not in the valid range$"):
        a.allocate(ip)
    a.release(ip)  # a no-op, no error
    assert not a.has(ip)


def test_cidr_allocator_ipv6_last_address_allocatable():
    a = CIDRAllocator("fd00::/120")
    a.allocate("fd00::ff")  # IPv6 has no broadcast exclusion
    assert a.has("fd00::ff")


def test_cidr_allocator_allocate_next_uses_dynamic_band_first():
    a = CIDRAllocator("10.0.0.0/27", rng=random.Random(7))
    dynamic = {f"10.0.0.{i}" for i in range(17, 31)}
    got = [a.allocate_next() for _ in range(14)]
    assert set(got) == dynamic  # the whole upper band before any static address
    static = {a.allocate_next() for _ in range(16)}
    assert static == {f"10.0.0.{i}" for i in range(1, 17)}
    assert a.free == 0 and a.used == 30
    with pytest.raises(RangeFullError) as e:
        a.allocate_next()
    assert str(e.value) == "range is full"


def test_cidr_allocator_allocate_next_scan_from_random_start_wraps():
    rng = FixedStart(13)  # dynamic band of a /27 has 14 slots: start at its last one
    a = CIDRAllocator("10.0.0.0/27", rng=rng)
    assert a.allocate_next() == "10.0.0.30"
    assert a.allocate_next() == "10.0.0.17"  # wrapped inside the band, not into the static band
    assert rng.calls == [14, 14]


def test_cidr_allocator_allocate_next_static_fallback_scan():
    rng = FixedStart(5)
    a = CIDRAllocator("10.0.0.0/27", rng=rng)
    for i in range(17, 31):
        a.allocate(f"10.0.0.{i}")
    assert a.allocate_next() == "10.0.0.6"  # static band, offset 5
    assert rng.calls == [14, 16]


def test_cidr_allocator_no_offset_small_range():
    a = CIDRAllocator("10.0.0.0/28", rng=FixedStart(0))
    assert [a.allocate_next() for _ in range(3)] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


def test_cidr_allocator_release_and_reuse():
    a = CIDRAllocator("10.0.0.0/29")
    ips = {a.allocate_next() for _ in range(6)}
    assert len(ips) == 6 and a.free == 0
    a.release("10.0.0.3")
    a.release("10.0.0.3")  # releasing twice is a no-op
    assert a.free == 1 and not a.has("10.0.0.3")
    assert a.allocate_next() == "10.0.0.3"
    assert list(a) == [f"10.0.0.{i}" for i in range(1, 7)]


def test_cidr_allocator_dry_run_takes_nothing():
    a = CIDRAllocator("10.96.0.0/12")
    a.allocate("10.96.0.10")
    d = a.dry_run()
    assert d.allocate_next() == "10.96.0.0"  # the network address, no scan
    d.allocate("10.96.0.10")  # upstream: range check only, no "already allocated" check
    d.allocate("10.96.0.11")
    with pytest.raises(NotInRangeError):
        d.allocate("192.168.1.1")
    d.release("10.96.0.10")
    assert a.used == 1 and a.has("10.96.0.10") and not a.has("10.96.0.11")


def test_cidr_allocator_dry_run_ipv6_network_address():
    assert CIDRAllocator("fd00:10:96::/112").dry_run().allocate_next() == "fd00:10:96::"


def test_cidr_allocator_accepts_host_bits_and_address_objects():
    a = CIDRAllocator("10.96.0.1/12")
    assert a.cidr == "10.96.0.0/12"
    a.allocate(ipaddress.ip_address("10.96.0.5"))
    assert a.has("10.96.0.5")


def test_cidr_allocator_kubernetes_service_ip_is_static_band():
    a = CIDRAllocator("10.96.0.0/12")
    assert a.first == "10.96.0.1"
    lo, hi = a.static_band
    assert ipaddress.ip_address(lo) <= ipaddress.ip_address("10.96.0.10") <= ipaddress.ip_address(hi)


def test_offset_bitmap_iteration_and_clear():
    b = OffsetBitmap(10, 4, rng=FixedStart(0))
    assert [b.allocate_next() for _ in range(6)] == [4, 5, 6, 7, 8, 9]
    assert [b.allocate_next() for _ in range(4)] == [0, 1, 2, 3]
    assert b.allocate_next() is None
    assert list(b) == list(range(10)) and b.free == 0
    b.clear()
    assert b.count == 0 and list(b) == []


def test_ip_family():
    assert ip_family("10.0.0.1") == "IPv4"
    assert ip_family("2001:db8::1") == "IPv6"
    assert ip_family("garbage") == "unknown"


def test_cluster_ip_allocators_single_stack():
    c = ClusterIPAllocators(["10.96.0.0/12"])
    assert c.families == ("IPv4",) and c.primary_family == "IPv4" and not c.is_dual_stack
    assert "IPv6" not in c and c.get("IPv6") is None
    assert c.for_ip("10.96.0.1") is c["IPv4"]
    assert c.for_ip("fd00::1") is None


def test_cluster_ip_allocators_dual_stack_primary_first():
    c = ClusterIPAllocators(["fd00:10:96::/112", "10.96.0.0/12"])
    assert c.families == ("IPv6", "IPv4") and c.primary_family == "IPv6" and c.is_dual_stack
    c["IPv4"].allocate("10.96.0.10")
    c["IPv6"].allocate("fd00:10:96::a")
    assert c.allocated() == {"10.96.0.10", "fd00:10:96::a"}
    c.clear()
    assert c.allocated() == set()


@pytest.mark.parametrize(
    "cidrs",
    [[], ["10.96.0.0/12", "10.200.0.0/16"], ["10.96.0.0/12", "fd00::/64", "fd01::/64"]],
    ids=["none", "same-family", "three"],
)
def test_cluster_ip_allocators_bad_config(cidrs):
    with pytest.raises(ValueError):
        ClusterIPAllocators(cidrs)


def test_cluster_ip_allocators_comma_string():
    c = ClusterIPAllocators("10.96.0.0/12,fd00::/108")
    assert c.families == ("IPv4", "IPv6")
