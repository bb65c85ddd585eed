"""svcnet.proxy.userspace.balancer: kernel-exact picks, affinity, retry and draining (no I/O;
time is a fake clock)."""

from __future__ import annotations

import pytest

from svcnet.proxy.model import EndpointInfo, ServicePortName
from svcnet.proxy.schedulers import VirtualService
from svcnet.proxy.userspace.balancer import Balancer
from svcnet.proxy.userspace.plan import BalancerSpec

SPN = ServicePortName("ns1", "svc1", "p80", "TCP")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def spec(ips, *, affinity=0, scheduler="rr", flags=()):  # type: ignore[no-untyped-def]
    return BalancerSpec(
        key=(SPN, "cluster"),
        protocol="TCP",
        vip="127.96.0.10",
        endpoints=tuple(EndpointInfo(ip=ip, port=8080) for ip in ips),
        affinity_seconds=affinity,
        scheduler=scheduler,
        scheduler_flags=flags,
    )


IPS = ["127.244.0.1", "127.244.0.2", "127.244.0.3"]


@pytest.mark.parametrize("sched", ["rr", "wrr", "lc", "wlc", "sed", "nq", "sh", "dh", "mh"])
def test_balancer_pick_sequence_equals_virtual_service(sched):  # type: ignore[no-untyped-def]
    b = Balancer(spec(IPS, scheduler=sched))
    vs = VirtualService("127.96.0.10", 0, "TCP", sched)
    vs.sync_dests({(ip, 8080): 1 for ip in IPS})
    got, want = [], []
    for i in range(12):
        client = f"127.1.0.{i % 5 + 1}"
        t = b.pick(client, 40000 + i, "127.96.0.10")
        b.opened(t, "TCP")
        got.append(t.ip)
        d = vs.schedule(client, 40000 + i, dst_addr="127.96.0.10")
        vs.conn_opened(d, "TCP")
        want.append(d.addr)
    assert got == want


def test_balancer_rr_exactly_even():
    b = Balancer(spec(IPS))
    counts: dict[str, int] = {}
    for i in range(300):
        t = b.pick("127.1.0.1", 1000 + i, "127.96.0.10")
        tok = b.opened(t, "TCP")
        b.closed(t, tok, "127.1.0.1")
        counts[t.ip] = counts.get(t.ip, 0) + 1
    assert counts == dict.fromkeys(IPS, 100)


def test_balancer_affinity_sticks_then_expires_after_last_use():
    clock = Clock()
    b = Balancer(spec(IPS, affinity=2), clock=clock)
    first = b.pick("127.1.0.1", 1, "127.96.0.10")
    for i in range(50):
        clock.now += 1.5  # each use is within the timeout of the previous one
        assert b.pick("127.1.0.1", 2 + i, "127.96.0.10") is first
    clock.now += 2.0  # idle for the whole timeout
    assert b.pick("127.1.0.1", 99, "127.96.0.10") is not first


def test_balancer_affinity_refreshed_by_connection_close():
    clock = Clock()
    b = Balancer(spec(IPS, affinity=2), clock=clock)
    t = b.pick("127.1.0.1", 1, "127.96.0.10")
    tok = b.opened(t, "TCP")
    clock.now += 10  # a long connection
    b.closed(t, tok, "127.1.0.1")
    clock.now += 1
    assert b.pick("127.1.0.1", 2, "127.96.0.10") is t


def test_balancer_affinity_dropped_when_endpoint_removed():
    b = Balancer(spec(IPS, affinity=100))
    t = b.pick("127.1.0.1", 1, "127.96.0.10")
    b.update(spec([ip for ip in IPS if ip != t.ip], affinity=100))
    assert "127.1.0.1" not in b.affinity
    assert b.pick("127.1.0.1", 2, "127.96.0.10").ip != t.ip


def test_balancer_expire_removes_old_records():
    clock = Clock()
    b = Balancer(spec(IPS, affinity=5), clock=clock)
    b.pick("127.1.0.1", 1, "127.96.0.10")
    b.pick("127.1.0.2", 1, "127.96.0.10")
    clock.now += 4
    b.pick("127.1.0.2", 2, "127.96.0.10")
    clock.now += 2
    assert b.expire() == 1
    assert set(b.affinity) == {"127.1.0.2"}


def test_balancer_retry_picks_an_untried_endpoint_and_ignores_affinity():
    b = Balancer(spec(IPS, affinity=100, scheduler="lc"))
    first = b.pick("127.1.0.1", 1, "127.96.0.10")
    tok = b.opened(first, "TCP")
    b.failed(first, tok)  # lc would pick the same one again
    second = b.pick("127.1.0.1", 1, "127.96.0.10", (first,))
    assert second is not first
    third = b.pick("127.1.0.1", 1, "127.96.0.10", (first, second))
    assert third not in (first, second)
    assert b.pick("127.1.0.1", 1, "127.96.0.10", (first, second, third)) is None
    assert first.stats.connect_failures == 1 and first.stats.connections == 0
    assert b.affinity["127.1.0.1"][0] is third.dest


def test_balancer_draining_endpoint_kept_until_its_last_connection_closes():
    b = Balancer(spec(IPS))
    t = b.pick("127.1.0.1", 1, "127.96.0.10")
    tok = b.opened(t, "TCP")
    b.update(spec([ip for ip in IPS if ip != t.ip]))
    assert t in b.targets and t not in b.active_targets
    for i in range(10):
        assert b.pick("127.1.0.1", 2 + i, "127.96.0.10") is not t
    b.closed(t, tok, "127.1.0.1")
    assert t not in b.targets


def test_balancer_retire_drains_everything():
    b = Balancer(spec(IPS[:1]))
    t = b.pick("127.1.0.1", 1, "127.96.0.10")
    tok = b.opened(t, "TCP")
    b.retire()
    assert b.pick("127.1.0.1", 2, "127.96.0.10") is None
    assert b.stats.active == 1
    b.closed(t, tok, "127.1.0.1")
    assert b.stats.active == 0 and b.targets == []


def test_balancer_hash_scheduler_refusal_falls_back_to_an_eligible_endpoint():
    b = Balancer(spec(IPS, scheduler="sh"))
    t = b.pick("127.1.0.1", 1, "127.96.0.10")
    tok = b.opened(t, "TCP")
    b.update(spec([ip for ip in IPS if ip != t.ip], scheduler="sh"))  # quiesced: sh keeps its bucket
    other = b.pick("127.1.0.1", 2, "127.96.0.10")
    assert other is not None and other is not t
    b.closed(t, tok, "127.1.0.1")


def test_balancer_counts_active_connections_for_lc():
    b = Balancer(spec(IPS, scheduler="lc"))
    held = []
    for i in range(6):
        t = b.pick("127.1.0.1", i, "127.96.0.10")
        held.append((t, b.opened(t, "TCP")))
    assert sorted(t.stats.active for t in b.active_targets) == [2, 2, 2]
    for t, tok in held[:3]:
        b.closed(t, tok, "127.1.0.1")
    assert b.stats.active == 3 and b.stats.connections == 6
