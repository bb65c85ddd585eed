"""PodIPAM: usable range, next-fit ring (no immediate reuse), idempotence, restore."""

import pytest

from svcnet.kubelet.ipam import IPAMExhausted, PodIPAM, local_pod_cidr, usable_range


@pytest.mark.parametrize(
    "cidr, first, last, size",
    [
        pytest.param("127.244.1.0/24", "127.244.1.2", "127.244.1.254", 253, id="slash24-skips-net-gw-bcast"),
        pytest.param("10.244.0.0/16", "10.244.0.2", "10.244.255.254", 65533, id="slash16"),
        pytest.param("127.244.7.0/30", "127.244.7.2", "127.244.7.2", 1, id="slash30-one-address"),
        pytest.param("127.244.7.0/31", "127.244.7.0", "127.244.7.1", 2, id="slash31-both"),
        pytest.param("fd00:10:244::/120", "fd00:10:244::2", "fd00:10:244::ff", 254, id="ipv6-no-broadcast"),
    ],
)
def test_usable_range_table(cidr, first, last, size):
    ipam = PodIPAM(cidr)
    assert ipam.size == size
    lo, hi = usable_range(cidr)
    assert hi - lo + 1 == size
    a = ipam.allocate("first")
    assert a == first
    # walk the whole ring: the last allocation is the last usable address
    got = [a] + [ipam.allocate(f"p{i}") for i in range(size - 1)]
    assert got[-1] == last
    assert len(set(got)) == size
    with pytest.raises(IPAMExhausted):
        ipam.allocate("one-too-many")


def test_usable_range_rejects_slash32():
    with pytest.raises(ValueError):
        PodIPAM("127.244.7.1/32")


@pytest.mark.parametrize(
    "index, cidr",
    [(0, "127.244.0.0/24"), (1, "127.244.1.0/24"), (255, "127.244.255.0/24")],
)
def test_local_pod_cidr_per_node(index, cidr):
    assert local_pod_cidr(index) == cidr


def test_local_pod_cidr_out_of_range():
    with pytest.raises(ValueError):
        local_pod_cidr(256)


def test_allocate_next_fit_does_not_reuse_freed_ip():
    ipam = PodIPAM("127.244.1.0/24")
    a = ipam.allocate("a")
    b = ipam.allocate("b")
    assert (a, b) == ("127.244.1.2", "127.244.1.3")
    assert ipam.release("a")
    # the replacement pod gets a new address, not the one just freed
    assert ipam.allocate("a2") == "127.244.1.4"
    assert ipam.owner_of("127.244.1.2") is None


def test_allocate_wraps_and_reuses_only_after_a_full_turn():
    ipam = PodIPAM("127.244.7.0/29")  # usable .2-.6
    ips = [ipam.allocate(f"p{i}") for i in range(5)]
    assert ips == [f"127.244.7.{i}" for i in range(2, 7)]
    ipam.release("p1")  # .3
    ipam.release("p3")  # .5
    assert ipam.allocate("q") == "127.244.7.3"  # wraps from .6 to the first free after it
    assert ipam.allocate("r") == "127.244.7.5"


def test_allocate_is_idempotent_per_owner():
    ipam = PodIPAM("127.244.1.0/24")
    assert ipam.allocate("uid-1") == ipam.allocate("uid-1")
    assert ipam.free == ipam.size - 1


def test_release_unknown_owner_is_noop():
    ipam = PodIPAM("127.244.1.0/24")
    assert ipam.release("nobody") is False


def test_restore_keeps_live_ips_and_cursor():
    ipam = PodIPAM("127.244.1.0/24")
    rejected = ipam.restore({"127.244.1.9": "a", "127.244.1.4": "b", "10.0.0.1": "c", "127.244.1.255": "d"}, last="127.244.1.20")
    assert rejected == ["10.0.0.1", "127.244.1.255"]
    assert ipam.ip_of("a") == "127.244.1.9"
    assert ipam.allocate("new") == "127.244.1.21"


def test_restore_without_cursor_continues_after_highest():
    ipam = PodIPAM("127.244.1.0/24")
    ipam.restore({"127.244.1.9": "a", "127.244.1.4": "b"})
    assert ipam.last == "127.244.1.9"
    assert ipam.allocate("new") == "127.244.1.10"


def test_restore_rejects_duplicate_owner_claims():
    ipam = PodIPAM("127.244.1.0/24")
    assert ipam.reserve("127.244.1.5", "a")
    assert not ipam.reserve("127.244.1.5", "b")
    assert ipam.reserve("127.244.1.5", "a")  # same owner: fine


def test_in_use_and_contains():
    ipam = PodIPAM("127.244.1.0/24")
    ipam.allocate("a")
    assert ipam.in_use() == {"127.244.1.2": "a"}
    assert ipam.contains("127.244.1.254") and not ipam.contains("127.244.1.1") and not ipam.contains("bogus")
