"""Property tests: any interleaving of writes and watch openings, checked against a model.

For every run of create/update/delete (some failing on purpose) on a handful of keys, with
watches opened at arbitrary points from arbitrary revisions (or from None), each watch must
replay exactly the events after its start revision - in order, none lost, none repeated, each
matching the model's write at that revision, with the right ``prev`` - and folding its events
onto the state at its start revision must reproduce ``list()``. Watches from a compacted
revision must raise Expired, and only those.
"""

from __future__ import annotations

import shutil
import tempfile

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from svcnet.api.errors import AlreadyExists, Conflict, Expired, NotFound
from svcnet.store import ADDED, DELETED, MODIFIED, MemoryStore, SqliteStore

RESOURCES = ["services", "pods"]
KEYS = [("a", "x"), ("a", "y"), ("b", "x")]

write_op = st.tuples(
    st.sampled_from(["create", "create", "update", "update", "delete", "update_stale", "delete_stale"]),
    st.sampled_from(RESOURCES),
    st.sampled_from(KEYS),
    st.integers(0, 99),
)
watch_op = st.tuples(
    st.just("watch"),
    st.sampled_from([None, *RESOURCES]),  # resource filter
    st.sampled_from([None, "a", "b"]),  # namespace filter
    st.one_of(st.none(), st.integers(0, 12)),  # since None, or this many revisions back
)
ops = st.lists(st.one_of(write_op, write_op, watch_op), min_size=1, max_size=50)
histories = st.sampled_from([1, 3, 10_000])


def matches(res_filter, ns_filter, res, ns) -> bool:
    return (res_filter is None or res == res_filter) and (not ns_filter or ns == ns_filter)


def visible(state: dict, res_filter, ns_filter) -> dict:
    return {k: v for k, v in state.items() if matches(res_filter, ns_filter, k[0], k[1])}


def value_rv(obj: dict) -> tuple[int, int]:
    return obj["spec"]["value"], int(obj["metadata"]["resourceVersion"])


def run_scenario(store, ops_: list, history: int) -> None:
    # the model: current state, the state after each revision, and what each revision wrote
    state: dict[tuple, tuple[int, int]] = {}  # (res, ns, name) -> (value, revision)
    states = [dict(state)]  # states[r]: after revision r
    log: dict[int, tuple] = {}  # revision -> (type, key, value, prev (value, rev) | None)
    watches = []
    for op in ops_:
        kind = op[0]
        rev = len(states) - 1
        assert store.revision() == rev
        if kind == "watch":
            _, res_f, ns_f, back = op
            since = None if back is None else max(0, rev - back)
            oldest = store.oldest_revision()
            if since is not None and since < oldest:
                try:
                    store.watch(res_f, ns_f, since=since)
                except Expired:
                    event("watch: Expired")
                    continue
                raise AssertionError(f"watch(since={since}) below oldest {oldest} did not raise Expired")
            event("watch: since=None" if since is None else "watch: since=N")
            watches.append((res_f, ns_f, since, rev, store.watch(res_f, ns_f, since=since)))
            continue
        _, res, (ns, name), value = op
        key = (res, ns, name)
        obj = {"metadata": {"name": name, "namespace": ns}, "spec": {"value": value}}
        cur = state.get(key)
        try:
            if kind == "create":
                out = store.create(res, obj)
                assert cur is None, "create of an existing key succeeded"
                typ = ADDED
            elif kind == "update":
                if cur is not None:
                    obj["metadata"]["resourceVersion"] = str(cur[1])
                out = store.update(res, obj)
                typ = MODIFIED
            elif kind == "update_stale":
                obj["metadata"]["resourceVersion"] = str(rev + 1)  # no object ever had this one
                out = store.update(res, obj)
                raise AssertionError("stale update succeeded")
            elif kind == "delete":
                out = store.delete(res, ns, name)
                typ = DELETED
                value = cur[0]
            else:  # delete_stale
                out = store.delete(res, ns, name, expect_rv=str(rev + 1))
                raise AssertionError("stale delete succeeded")
        except AlreadyExists:
            assert kind == "create" and cur is not None
            continue
        except NotFound:
            assert cur is None and kind != "create"
            continue
        except Conflict:
            assert kind in ("update_stale", "delete_stale") and cur is not None
            continue
        assert cur is not None or typ == ADDED
        new = rev + 1
        assert out["metadata"]["resourceVersion"] == str(new)
        assert out["spec"]["value"] == value
        if typ == DELETED:
            del state[key]
        else:
            state[key] = (value, new)
        states.append(dict(state))
        log[new] = (typ, key, value, cur)

    final = len(states) - 1
    assert store.revision() == final
    listed = {}
    for res in RESOURCES:
        objs, rev = store.list(res)
        assert rev == final
        for o in objs:
            md = o["metadata"]
            listed[(res, md["namespace"], md["name"])] = (o["spec"]["value"], int(md["resourceVersion"]))
    assert listed == state
    assert final - store.oldest_revision() >= min(history, final)

    for res_f, ns_f, since, opened_at, w in watches:
        assert not w.closed and w.error is None
        evs = w.drain()
        if since is None:  # synthetic ADDED of what was visible at opening, then live
            start_state = visible(states[opened_at], res_f, ns_f)
            synthetic, live = evs[: len(start_state)], evs[len(start_state) :]
            assert all(e.type == ADDED and e.revision == opened_at and e.prev is None for e in synthetic)
            got = {(e.resource, e.namespace, e.name): value_rv(e.object) for e in synthetic}
            assert got == start_state
            first = opened_at
        else:
            start_state, live, first = visible(states[since], res_f, ns_f), evs, since
        want = [r for r in range(first + 1, final + 1) if matches(res_f, ns_f, log[r][1][0], log[r][1][1])]
        assert [e.revision for e in live] == want, "lost, repeated or reordered events"
        folded = dict(start_state)
        for e in live:
            typ, key, value, prev = log[e.revision]
            assert (e.type, (e.resource, e.namespace, e.name)) == (typ, key)
            assert e.object["metadata"]["resourceVersion"] == str(e.revision)
            assert e.object["spec"]["value"] == value
            assert (value_rv(e.prev) if e.prev is not None else None) == prev
            if typ == DELETED:
                del folded[key]
            else:
                folded[key] = (value, e.revision)
        assert folded == visible(state, res_f, ns_f)


@settings(max_examples=300, deadline=None)
@given(ops_=ops, history=histories)
def test_properties_memory_watch_replays_exactly(ops_, history):
    store = MemoryStore(history=history)
    try:
        run_scenario(store, ops_, history)
    finally:
        store.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops_=ops, history=histories, compact_every=st.sampled_from([1, 4]))
def test_properties_sqlite_watch_replays_exactly(ops_, history, compact_every):
    d = tempfile.mkdtemp(prefix="svcnet-prop-")
    try:
        store = SqliteStore(f"{d}/s.sqlite", history=history, compact_every=compact_every, synchronous="OFF")
        try:
            run_scenario(store, ops_, history)
        finally:
            store.close()
        # and again after a reopen: the same history, the same state
        store = SqliteStore(f"{d}/s.sqlite", history=history, compact_every=compact_every, synchronous="OFF")
        try:
            since = store.oldest_revision()
            replay = [(e.revision, e.type, e.name) for e in store.watch(None, since=since).drain()]
            assert [r for r, _, _ in replay] == list(range(since + 1, store.revision() + 1))
        finally:
            store.close()
    finally:
        shutil.rmtree(d, ignore_errors=True)
