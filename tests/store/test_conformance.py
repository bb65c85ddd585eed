"""The Store contract (rules 1-5 of svcnet.store.base), run against every backend."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from svcnet.api.errors import AlreadyExists, Conflict, Expired, NotFound, ServiceUnavailable
from svcnet.store import ADDED, DELETED, MODIFIED, Event, Store, Watch

WAIT = 5.0  # seconds; every wait in these tests is bounded


def svc(name: str, ns: str = "default", port: int = 80, **extra) -> dict:
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"ports": [{"port": port}]},
    }
    obj.update(extra)
    return obj


def rv(obj: dict) -> int:
    return int(obj["metadata"]["resourceVersion"])


def names(objs: list[dict]) -> list[tuple[str, str]]:
    return [(o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in objs]


def fold(state: dict, events: list[Event]) -> dict:
    """Apply watch events to {(resource, ns, name): object}."""
    state = dict(state)
    for ev in events:
        key = (ev.resource, ev.namespace, ev.name)
        if ev.type == DELETED:
            state.pop(key, None)
        else:
            state[key] = ev.object
    return state


def listed(store, *resources: str) -> dict:
    out = {}
    for res in resources:
        for o in store.list(res)[0]:
            out[(res, o["metadata"].get("namespace", ""), o["metadata"]["name"])] = o
    return out


def take(w: Watch, n: int) -> list[Event]:
    out = []
    while len(out) < n:
        ev = w.get(timeout=WAIT)
        assert ev is not None, f"watch stalled after {len(out)} of {n} events"
        out.append(ev)
    return out


# -- CRUD ---------------------------------------------------------------------------------


def test_store_implements_protocol(store):
    assert isinstance(store, Store)
    assert store.revision() == 0
    assert store.oldest_revision() == 0


def test_create_sets_resource_version_and_leaves_input_alone(store):
    obj = svc("web")
    out = store.create("services", obj)
    assert out["metadata"]["resourceVersion"] == "1"
    assert "resourceVersion" not in obj["metadata"]
    assert out["spec"] == obj["spec"]
    assert store.get("services", "default", "web") == out
    assert store.revision() == 1


def test_get_returns_private_copies(store):
    store.create("services", svc("web"))
    a = store.get("services", "default", "web")
    a["spec"]["ports"][0]["port"] = 9999
    a["metadata"]["labels"] = {"x": "y"}
    b = store.get("services", "default", "web")
    assert b["spec"]["ports"][0]["port"] == 80
    assert "labels" not in b["metadata"]
    objs, _ = store.list("services")
    objs[0]["spec"] = {}
    assert store.list("services")[0][0]["spec"]["ports"] == [{"port": 80}]


def test_create_returned_object_is_private(store):
    out = store.create("services", svc("web"))
    out["spec"]["ports"] = []
    assert store.get("services", "default", "web")["spec"]["ports"] == [{"port": 80}]


def test_create_already_exists_upstream_message(store):
    store.create("services", svc("web"))
    with pytest.raises(AlreadyExists) as ei:
        store.create("services", svc("web", port=81))
    assert str(ei.value) == 'services "web" already exists'
    assert ei.value.code == 409
    assert ei.value.status["reason"] == "AlreadyExists"
    assert ei.value.status["details"] == {"name": "web", "kind": "services"}
    assert store.revision() == 1
    assert store.get("services", "default", "web")["spec"]["ports"] == [{"port": 80}]


def test_create_already_exists_names_the_group(store):
    es = {"metadata": {"name": "web-abcde", "namespace": "default"}, "addressType": "IPv4"}
    store.create("endpointslices", es)
    with pytest.raises(AlreadyExists) as ei:
        store.create("endpointslices", es)
    assert str(ei.value) == 'endpointslices.discovery.k8s.io "web-abcde" already exists'
    assert ei.value.status["details"]["group"] == "discovery.k8s.io"


def test_create_same_name_other_namespace_or_resource(store):
    store.create("services", svc("web", "a"))
    store.create("services", svc("web", "b"))
    store.create("pods", svc("web", "a"))
    assert store.revision() == 3


def test_get_not_found_upstream_message(store):
    with pytest.raises(NotFound) as ei:
        store.get("services", "default", "web")
    assert str(ei.value) == 'services "web" not found'
    assert ei.value.code == 404
    assert ei.value.status["details"] == {"name": "web", "kind": "services"}
    with pytest.raises(NotFound) as ei:
        store.get("endpointslices", "default", "web-x")
    assert str(ei.value) == 'endpointslices.discovery.k8s.io "web-x" not found'


def test_get_cluster_scoped_object(store):
    store.create("namespaces", {"metadata": {"name": "prod"}})
    assert store.get("namespaces", "", "prod")["metadata"]["name"] == "prod"
    assert store.get("namespaces", None, "prod")["metadata"]["resourceVersion"] == "1"
    with pytest.raises(NotFound) as ei:
        store.get("namespaces", "", "dev")
    assert str(ei.value) == 'namespaces "dev" not found'


def test_update_replaces_and_bumps_revision(store):
    a = store.create("services", svc("web"))
    a["spec"]["ports"] = [{"port": 8080}]
    b = store.update("services", a)
    assert rv(b) == 2
    assert a["metadata"]["resourceVersion"] == "1"  # input untouched
    assert store.get("services", "default", "web")["spec"]["ports"] == [{"port": 8080}]


def test_update_without_resource_version_is_unconditional(store):
    store.create("services", svc("web"))
    store.update("services", svc("web", port=81))
    out = store.update("services", svc("web", port=82))
    assert rv(out) == 3
    assert store.get("services", "default", "web")["spec"]["ports"] == [{"port": 82}]


def test_update_stale_resource_version_conflict_upstream_message(store):
    a = store.create("services", svc("web"))
    store.update("services", a)
    with pytest.raises(Conflict) as ei:
        store.update("services", a)  # still carries resourceVersion "1"
    assert str(ei.value) == (
        'Operation cannot be fulfilled on services "web": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert ei.value.code == 409
    assert ei.value.status["reason"] == "Conflict"
    assert store.revision() == 2


def test_update_not_found(store):
    with pytest.raises(NotFound) as ei:
        store.update("services", svc("web"))
    assert str(ei.value) == 'services "web" not found'
    assert store.revision() == 0


def test_delete_returns_last_state_at_deletion_revision(store):
    store.create("services", svc("web"))
    out = store.delete("services", "default", "web")
    assert rv(out) == 2
    assert out["spec"]["ports"] == [{"port": 80}]
    with pytest.raises(NotFound):
        store.get("services", "default", "web")
    assert store.list("services") == ([], 2)


def test_delete_not_found_and_conflict(store):
    with pytest.raises(NotFound) as ei:
        store.delete("services", "default", "web")
    assert str(ei.value) == 'services "web" not found'
    store.create("services", svc("web"))
    store.update("services", svc("web", port=81))
    with pytest.raises(Conflict) as ei:
        store.delete("services", "default", "web", expect_rv="1")
    assert "the object has been modified" in str(ei.value)
    assert rv(store.delete("services", "default", "web", expect_rv="2")) == 3


def test_revision_monotonic_and_never_reused(store):
    seen = []
    seen.append(rv(store.create("services", svc("a"))))
    seen.append(rv(store.create("pods", svc("p"))))
    seen.append(rv(store.update("services", svc("a", port=1))))
    seen.append(rv(store.delete("services", "default", "a")))
    seen.append(rv(store.create("services", svc("a"))))  # recreated: a new, higher revision
    seen.append(rv(store.delete("pods", "default", "p")))
    assert seen == [1, 2, 3, 4, 5, 6]
    assert store.revision() == 6
    with pytest.raises(AlreadyExists):
        store.create("services", svc("a"))
    assert store.revision() == 6  # failed writes take no revision


def test_list_ordering_namespaces_and_revision(store):
    for ns, name in [("b", "y"), ("a", "z"), ("b", "a"), ("a", "b"), ("c", "m")]:
        store.create("services", svc(name, ns))
    store.create("pods", svc("x", "a"))
    objs, rev = store.list("services")
    assert names(objs) == [("a", "b"), ("a", "z"), ("b", "a"), ("b", "y"), ("c", "m")]
    assert rev == store.revision() == 6
    objs, rev = store.list("services", "b")
    assert names(objs) == [("b", "a"), ("b", "y")]
    assert rev == 6
    assert store.list("services", "nope") == ([], 6)
    assert store.list("endpoints") == ([], 6)
    assert store.list("services", "")[0] == store.list("services")[0]


def test_list_raw_matches_list(store):
    import orjson

    for i in range(5):
        store.create("services", svc(f"s{i}", f"ns{i % 2}"))
    for ns in (None, "ns0", "ns1", "none"):
        raw, rev = store.list_raw("services", ns)
        objs, rev2 = store.list("services", ns)
        assert [orjson.loads(b) for b in raw] == objs
        assert rev == rev2


# -- watch --------------------------------------------------------------------------------


def test_watch_from_zero_replays_everything(store):
    store.create("services", svc("a"))
    store.update("services", svc("a", port=81))
    store.create("pods", svc("p"))
    store.delete("services", "default", "a")
    w = store.watch(None, since=0)
    evs = w.drain()
    assert [(e.revision, e.type, e.resource, e.name) for e in evs] == [
        (1, ADDED, "services", "a"),
        (2, MODIFIED, "services", "a"),
        (3, ADDED, "pods", "p"),
        (4, DELETED, "services", "a"),
    ]
    assert [rv(e.object) for e in evs] == [1, 2, 3, 4]
    assert evs[0].as_watch_event() == {"type": ADDED, "object": evs[0].object}


def test_watch_from_revision_and_then_live(store):
    for i in range(5):
        store.create("services", svc(f"s{i}"))
    w = store.watch("services", since=3)
    assert [e.revision for e in w.drain()] == [4, 5]
    store.create("services", svc("s5"))
    ev = w.get(timeout=WAIT)
    assert (ev.revision, ev.type, ev.name) == (6, ADDED, "s5")
    assert w.get(timeout=0.01) is None  # nothing more queued


def test_watch_from_current_revision_gets_only_new(store):
    store.create("services", svc("a"))
    w = store.watch("services", since=store.revision())
    assert w.drain() == []
    w2 = store.watch("services", since=store.revision() + 5)  # ahead of the store: just live
    store.create("services", svc("b"))
    assert [e.name for e in take(w, 1)] == ["b"]
    assert [e.name for e in take(w2, 1)] == ["b"]


def test_watch_from_none_synthetic_added_then_live(store):
    store.create("services", svc("b", "x"))
    store.create("services", svc("a", "y"))
    store.create("services", svc("a", "x"))
    store.create("pods", svc("p", "x"))
    store.update("services", svc("b", "x", port=90))
    w = store.watch("services", since=None)
    evs = w.drain()
    assert [(e.type, e.namespace, e.name) for e in evs] == [
        (ADDED, "x", "a"),
        (ADDED, "x", "b"),
        (ADDED, "y", "a"),
    ]
    assert {e.revision for e in evs} == {5}
    assert [rv(e.object) for e in evs] == [3, 5, 2]  # each object keeps its own version
    assert all(e.prev is None for e in evs)
    store.delete("services", "y", "a")
    ev = w.get(timeout=WAIT)
    assert (ev.type, ev.revision, ev.name) == (DELETED, 6, "a")


def test_watch_from_none_all_resources_and_namespace(store):
    store.create("services", svc("s", "x"))
    store.create("pods", svc("p", "x"))
    store.create("pods", svc("q", "y"))
    evs = store.watch(None, since=None).drain()
    assert sorted((e.resource, e.name) for e in evs) == [("pods", "p"), ("pods", "q"), ("services", "s")]
    evs = store.watch(None, "x", since=None).drain()
    assert sorted((e.resource, e.name) for e in evs) == [("pods", "p"), ("services", "s")]


def test_watch_filters_resource_and_namespace(store):
    w_all = store.watch(None, since=0)
    w_svc = store.watch("services", since=0)
    w_ns = store.watch("services", "a", since=0)
    store.create("services", svc("s1", "a"))
    store.create("services", svc("s2", "b"))
    store.create("pods", svc("p1", "a"))
    store.create("namespaces", {"metadata": {"name": "a"}})
    assert [e.revision for e in take(w_all, 4)] == [1, 2, 3, 4]
    assert [e.revision for e in take(w_svc, 2)] == [1, 2]
    assert [e.revision for e in take(w_ns, 1)] == [1]
    assert w_svc.drain() == [] and w_ns.drain() == []
    # a backlog is filtered the same way
    assert [e.revision for e in store.watch("pods", "a", since=0).drain()] == [3]
    assert [e.revision for e in store.watch("namespaces", since=0).drain()] == [4]


def test_watch_deleted_carries_deletion_revision_and_prev(store):
    store.create("services", svc("web"))
    store.update("services", svc("web", port=81))
    w = store.watch("services", since=store.revision())
    store.delete("services", "default", "web")
    (ev,) = take(w, 1)
    assert ev.type == DELETED
    assert ev.revision == 3
    assert ev.object["metadata"]["resourceVersion"] == "3"
    assert ev.object["spec"]["ports"] == [{"port": 81}]
    assert ev.prev["metadata"]["resourceVersion"] == "2"
    # replayed from history, the same
    (again,) = store.watch("services", since=2).drain()
    assert (again.type, again.revision, again.object, again.prev) == (DELETED, 3, ev.object, ev.prev)


def test_watch_prev_objects(store):
    store.create("services", svc("web"))
    store.update("services", svc("web", port=81))
    store.update("services", svc("web", port=82))
    evs = store.watch("services", since=0).drain()
    assert evs[0].prev is None
    assert evs[1].prev["spec"]["ports"] == [{"port": 80}] and rv(evs[1].prev) == 1
    assert evs[2].prev["spec"]["ports"] == [{"port": 81}] and rv(evs[2].prev) == 2
    assert rv(evs[2].object) == 3


def test_watch_expired_for_compacted_revisions(make_store):
    store = make_store(history=5, compact_every=3)
    for i in range(30):
        store.create("services", svc(f"s{i}"))
    oldest = store.oldest_revision()
    assert 30 - 5 - 3 <= oldest <= 30 - 5
    with pytest.raises(Expired) as ei:
        store.watch("services", since=oldest - 1)
    assert ei.value.code == 410
    assert ei.value.status["reason"] == "Expired"
    assert str(ei.value) == f"too old resource version: {oldest - 1} ({oldest})"
    with pytest.raises(Expired):
        store.watch(None, since=0)
    evs = store.watch("services", since=oldest).drain()
    assert [e.revision for e in evs] == list(range(oldest + 1, 31))
    # since=None never expires
    assert len(store.watch("services", since=None).drain()) == 30


def test_watch_slow_consumer_dropped(store):
    slow = store.watch("services", since=0, max_pending=3)
    fast = store.watch("services", since=0)
    for i in range(5):
        store.create("services", svc(f"s{i}"))
    assert slow.closed
    assert isinstance(slow.error, Expired)
    assert slow.get(timeout=0.01) is None
    assert [e.revision for e in take(fast, 5)] == [1, 2, 3, 4, 5]
    store.create("services", svc("more"))  # the dropped watcher is simply skipped
    assert take(fast, 1)[0].name == "more"


def test_watch_backlog_larger_than_max_pending_is_dropped(store):
    for i in range(5):
        store.create("services", svc(f"s{i}"))
    w = store.watch("services", since=0, max_pending=2)
    assert w.closed and isinstance(w.error, Expired)
    store.create("services", svc("x"))
    assert w.drain() == []


def test_watch_closed_by_consumer_gets_nothing_more(store):
    w = store.watch("services", since=0)
    store.create("services", svc("a"))
    w.close()
    assert w.closed and w.error is None
    store.create("services", svc("b"))
    assert [e.name for e in w.drain()] == ["a"]


def test_watch_no_gap_with_concurrent_writers(make_store):
    store = make_store()
    for i in range(3):  # never touched by the writers: every since=None watch has a synthetic part
        store.create("services", svc(f"seed-{i}"))
    writers, per = 4, 100
    permits = threading.Semaphore(0)  # the main thread paces the writers, so watches open mid-stream

    def write(k: int) -> None:
        for i in range(per):
            assert permits.acquire(timeout=WAIT)
            ns, name = f"ns{k % 2}", f"w{k}-{i % 7}"
            try:
                store.create("services", svc(name, ns, port=i))
            except AlreadyExists:
                if i % 3 == 0:
                    store.delete("services", ns, name)
                else:
                    store.update("services", svc(name, ns, port=i))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(writers)]
    for t in threads:
        t.start()
    opened = []
    for _ in range(5):  # let 60 writes go, and open watches while they are being written
        permits.release(60)
        time.sleep(0.001)
        opened.append((None, store.watch("services", since=None)))
        rev = store.revision()
        opened.append((rev, store.watch("services", since=rev)))
    permits.release(writers * per - 5 * 60)
    for t in threads:
        t.join(WAIT * 4)
        assert not t.is_alive()
    final_rev = store.revision()
    final = strip(listed(store, "services"))
    history = store.watch("services", since=0).drain()
    starts = set()
    for since, w in opened:
        evs = w.drain()
        if since is None:
            r0 = evs[0].revision
            synthetic = [e for e in evs if e.revision == r0]
            assert evs[: len(synthetic)] == synthetic
            assert all(e.type == ADDED and e.prev is None for e in synthetic)
            assert strip(fold({}, synthetic)) == strip(fold({}, [e for e in history if e.revision <= r0]))
            start, live = {}, evs[len(synthetic) :]
        else:
            r0, live = since, evs
            start = fold({}, [e for e in history if e.revision <= since])
        starts.add(r0)
        # every write after the start, once, in order (all writes here are services)
        assert [e.revision for e in live] == list(range(r0 + 1, final_rev + 1))
        assert strip(fold(start, evs)) == final
    assert len(starts) > 2 and max(starts) < final_rev  # the watches really opened mid-stream


def strip(state: dict) -> dict:
    return {k: (v["metadata"]["resourceVersion"], v["spec"]) for k, v in state.items()}


async def test_watch_async_iteration(store):
    w = store.watch("services", since=0)
    store.create("services", svc("first"))

    def writer() -> None:
        for i in range(20):
            store.create("services", svc(f"s{i}"))

    t = threading.Thread(target=writer)
    t.start()
    got = []

    async def consume() -> None:
        async for ev in w:
            got.append(ev)
            if len(got) == 21:
                break

    await asyncio.wait_for(consume(), WAIT)
    t.join(WAIT)
    assert [e.revision for e in got] == list(range(1, 22))
    # events left queued after leaving the loop are not lost
    store.create("services", svc("after"))

    async def one() -> Event:
        async for ev in w:
            return ev

    ev = await asyncio.wait_for(one(), WAIT)
    assert ev.name == "after"


async def test_watch_async_iteration_ends_on_close(store):
    w = store.watch("services", since=None)
    got = []

    async def consume() -> None:
        async for ev in w:
            got.append(ev.name)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    store.create("services", svc("a"))
    await asyncio.sleep(0.01)
    threading.Thread(target=store.close).start()
    await asyncio.wait_for(task, WAIT)
    assert got == ["a"]
    assert w.closed


def test_close_ends_watches_and_refuses_writes(store):
    store.create("services", svc("a"))
    w = store.watch("services", since=0)
    done = threading.Event()

    def consume() -> None:
        while w.get(timeout=WAIT) is not None:
            pass
        done.set()

    t = threading.Thread(target=consume)
    t.start()
    store.close()
    assert done.wait(WAIT)
    t.join(WAIT)
    assert w.closed
    with pytest.raises(ServiceUnavailable):
        store.create("services", svc("b"))
    with pytest.raises(ServiceUnavailable):
        store.watch("services")
    with pytest.raises(ServiceUnavailable):
        store.get("services", "default", "a")
    with pytest.raises(ServiceUnavailable):
        store.list("services")
    store.close()  # idempotent
