"""SqliteStore specifics: persistence across reopen, compaction, the writer lock, crash safety."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from svcnet.api.errors import Expired, NotFound, SvcnetError
from svcnet.store import ADDED, DELETED, MODIFIED, MemoryStore, SqliteStore, StoreLocked, open_store
from svcnet.store.sqlite import SCHEMA_VERSION

SRC = str(Path(__file__).resolve().parents[2] / "src")
WAIT = 10.0


def svc(name: str, ns: str = "default", port: int = 80) -> dict:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"ports": [{"port": port}]}}


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "state" / "svcnet.sqlite"


def opened(path: Path, **options) -> SqliteStore:
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteStore(path, **options)


def raw_rows(path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """Read the file with a plain read-only SQLite connection (not through the store)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


# -- reopen -------------------------------------------------------------------------------


def test_reopen_preserves_objects_revision_and_events(db):
    s = opened(db)
    s.create("services", svc("a"))
    s.create("services", svc("b", "other"))
    s.update("services", svc("a", port=81))
    s.create("namespaces", {"metadata": {"name": "other"}})
    s.delete("services", "other", "b")
    before = (s.list("services"), s.list("namespaces"), s.watch(None, since=0).drain())
    s.close()

    s = opened(db)
    assert s.revision() == 5
    assert (s.list("services"), s.list("namespaces")) == before[:2]
    assert s.get("services", "default", "a")["metadata"]["resourceVersion"] == "3"
    evs = s.watch(None, since=0).drain()
    assert [(e.revision, e.type, e.resource, e.namespace, e.name) for e in evs] == [
        (1, ADDED, "services", "default", "a"),
        (2, ADDED, "services", "other", "b"),
        (3, MODIFIED, "services", "default", "a"),
        (4, ADDED, "namespaces", "", "other"),
        (5, DELETED, "services", "other", "b"),
    ]
    assert [(e.object, e.prev) for e in evs] == [(e.object, e.prev) for e in before[2]]
    assert s.create("services", svc("c"))["metadata"]["resourceVersion"] == "6"
    s.close()


def test_reopen_never_reuses_revision_after_deleting_everything(db):
    s = opened(db)
    s.create("services", svc("a"))
    s.create("services", svc("b"))
    s.delete("services", "default", "a")
    s.delete("services", "default", "b")
    s.close()
    s = opened(db)
    assert s.revision() == 4
    assert s.list("services") == ([], 4)
    assert s.create("services", svc("a"))["metadata"]["resourceVersion"] == "5"
    s.close()


def test_watch_resumes_across_reopen(db):
    s = opened(db)
    w = s.watch("services", since=None)
    for i in range(4):
        s.create("services", svc(f"s{i}"))
    seen = [e.revision for e in w.drain()]
    assert seen == [1, 2, 3, 4]
    s.close()
    assert w.closed and w.get(timeout=0.01) is None

    s = opened(db)  # "the API server restarted"; meanwhile more writes happen
    s.update("services", svc("s0", port=99))
    s.delete("services", "default", "s1")
    w = s.watch("services", since=seen[-1])
    evs = w.drain()
    assert [(e.revision, e.type, e.name) for e in evs] == [(5, MODIFIED, "s0"), (6, DELETED, "s1")]
    assert evs[0].prev["metadata"]["resourceVersion"] == "1"
    s.create("services", svc("s9"))
    assert w.get(timeout=WAIT).revision == 7
    s.close()


def test_compaction_persists_across_reopen(db):
    s = opened(db, history=5, compact_every=4)
    for i in range(23):
        s.create("services", svc(f"s{i}"))
    compacted = s.oldest_revision()
    assert 23 - 5 - 4 <= compacted <= 23 - 5
    held = raw_rows(db, "SELECT min(revision), max(revision), count(*) FROM events")[0]
    assert held == (compacted + 1, 23, 23 - compacted)
    assert raw_rows(db, "SELECT value FROM meta WHERE key = 'compacted'") == [(compacted,)]
    s.close()

    s = opened(db, history=5, compact_every=4)
    assert s.oldest_revision() == compacted
    with pytest.raises(Expired) as ei:
        s.watch("services", since=compacted - 1)
    assert str(ei.value) == f"too old resource version: {compacted - 1} ({compacted})"
    evs = s.watch("services", since=compacted).drain()
    assert [e.revision for e in evs] == list(range(compacted + 1, 24))
    assert len(s.list("services")[0]) == 23  # compaction drops history, never objects
    s.close()

    s = opened(db, history=2)  # a smaller history compacts at once on open
    assert s.oldest_revision() == 21
    assert raw_rows(db, "SELECT count(*) FROM events") == [(2,)]
    s.close()
    s = opened(db, history=1000)  # a larger one cannot bring history back
    assert s.oldest_revision() == 21
    with pytest.raises(Expired):
        s.watch(None, since=0)
    s.close()


def test_compaction_runs_in_batches(db):
    s = opened(db, history=10, compact_every=5)
    counts = set()
    for i in range(60):
        s.create("services", svc(f"s{i}"))
        counts.add(raw_rows(db, "SELECT count(*) FROM events")[0][0])
    s.close()
    # the table grows to history + compact_every, then drops back to history: not every write
    assert max(counts) == 14 and min(c for c in counts if c >= 10) == 10
    assert counts >= set(range(10, 15))


def test_compaction_keeps_prev_of_held_events(db):
    s = opened(db, history=3, compact_every=1)
    s.create("services", svc("old"))
    for i in range(10):
        s.create("services", svc(f"s{i}"))
    s.update("services", svc("old", port=1))  # its previous event is long compacted
    s.close()
    s = opened(db, history=3, compact_every=1)
    (ev,) = [e for e in s.watch("services", since=s.oldest_revision()).drain() if e.name == "old"]
    assert ev.prev["metadata"]["resourceVersion"] == "1"
    s.close()


# -- file layout, options -----------------------------------------------------------------


def test_file_is_wal_with_schema_version(db):
    s = opened(db)
    s.create("services", svc("a"))
    assert raw_rows(db, "PRAGMA journal_mode") == [("wal",)]
    assert raw_rows(db, "SELECT value FROM meta WHERE key = 'schema'") == [(SCHEMA_VERSION,)]
    (row,) = raw_rows(db, "SELECT resource, namespace, name, revision, data FROM objects")
    assert row[:4] == ("services", "default", "a", 1)
    assert orjson.loads(row[4]) == s.get("services", "default", "a")
    (ev,) = raw_rows(db, "SELECT revision, type, resource, namespace, name, prev FROM events")
    assert ev == (1, "ADDED", "services", "default", "a", None)
    s.close()


@pytest.mark.parametrize(("mode", "level"), [("NORMAL", 1), ("FULL", 2), ("full", 2)])
def test_synchronous_option(db, mode, level):
    s = opened(db, synchronous=mode)
    assert s._conn.execute("PRAGMA synchronous").fetchone()[0] == level
    s.close()


def test_bad_options(db):
    with pytest.raises(ValueError, match="synchronous"):
        opened(db, synchronous="SOMETIMES")
    with pytest.raises(ValueError, match="history"):
        opened(db, history=0)
    opened(db).close()  # a refused open released the lock


def test_other_schema_version_refused(db):
    opened(db).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = 99 WHERE key = 'schema'")
    conn.commit()
    conn.close()
    with pytest.raises(SvcnetError, match="schema version 99"):
        opened(db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (SCHEMA_VERSION,))
    conn.commit()
    conn.close()
    opened(db).close()


def test_failed_transaction_changes_nothing(db):
    s = opened(db)
    s.create("services", svc("a"))
    # fault injection: make the events insert fail inside the write's transaction
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.name = 'boom' "
        "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
    )
    conn.commit()
    conn.close()
    w = s.watch("services", since=s.revision())
    with pytest.raises(sqlite3.IntegrityError, match="injected failure"):
        s.create("services", svc("boom"))
    assert s.revision() == 1
    with pytest.raises(NotFound):
        s.get("services", "default", "boom")
    assert raw_rows(db, "SELECT name FROM objects") == [("a",)]
    assert w.drain() == []
    assert s.create("services", svc("b"))["metadata"]["resourceVersion"] == "2"
    assert [e.name for e in w.drain()] == ["b"]
    s.close()


def test_unserialisable_object_changes_nothing(db):
    s = opened(db)
    with pytest.raises(TypeError):
        s.create("services", {"metadata": {"name": "a", "namespace": "x"}, "spec": {"bad": {1, 2}}})
    assert s.revision() == 0 and s.list("services") == ([], 0)
    s.close()


# -- open_store -----------------------------------------------------------------------------


def test_open_store_specs(tmp_path):
    m = open_store("memory:")
    assert isinstance(m, MemoryStore)
    m.close()
    nested = tmp_path / "a" / "b" / "state.sqlite"
    s = open_store(str(nested), history=7)
    assert isinstance(s, SqliteStore) and s.history == 7 and nested.exists()
    s.close()
    s = open_store(f"sqlite:{nested}")
    assert isinstance(s, SqliteStore) and s.path == str(nested)
    s.close()
    with pytest.raises(ValueError):
        open_store("sqlite:")


# -- the writer lock ------------------------------------------------------------------------


def test_second_writer_refused_in_process(db):
    s = opened(db)
    with pytest.raises(StoreLocked) as ei:
        opened(db)
    msg = str(ei.value)
    assert str(db) in msg and f"process {os.getpid()}" in msg and "already open for writing" in msg
    s.create("services", svc("still-works"))
    s.close()
    s = opened(db)  # released on close
    assert s.revision() == 1
    s.close()


def test_dropped_store_releases_lock(db):
    import gc

    s = opened(db)
    s.create("services", svc("a"))
    del s
    gc.collect()
    s = opened(db)
    assert s.revision() == 1
    s.close()


def test_second_writer_refused_in_other_process(db):
    s = opened(db)
    code = (
        "import sys\n"
        "from svcnet.store import SqliteStore, StoreLocked\n"
        "try:\n"
        "    SqliteStore(sys.argv[1])\n"
        "except StoreLocked as e:\n"
        "    print(e); sys.exit(3)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=WAIT, env=_child_env()
    )
    assert p.returncode == 3, p.stderr
    assert f"already open for writing by process {os.getpid()}" in p.stdout
    s.close()
    p = subprocess.run(
        [sys.executable, "-c", code, str(db)], capture_output=True, text=True, timeout=WAIT, env=_child_env()
    )
    assert p.returncode == 0, p.stdout + p.stderr


# -- crash safety ---------------------------------------------------------------------------

# The child writes in a loop and prints each acknowledged write - "<revision> <op> <name> <i>" -
# only after the store call returned (the transaction committed). A small history makes it
# compact often, so a kill can land mid-compaction too.
CHILD = r"""
import random, sys
from svcnet.store import SqliteStore
path, seed, history = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = SqliteStore(path, history=history, compact_every=7)
rnd = random.Random(seed)
out = sys.stdout
i = 0
while True:
    name = f"o{rnd.randrange(25)}"
    try:
        cur = s.get("pods", "default", name)
    except Exception:
        cur = None
    pad = "x" * rnd.randrange(4000)
    if cur is None:
        obj = {"metadata": {"name": name, "namespace": "default"}, "spec": {"i": i, "pad": pad}}
        obj = s.create("pods", obj)
        op = "c"
    elif rnd.random() < 0.25:
        obj = s.delete("pods", "default", name, expect_rv=cur["metadata"]["resourceVersion"])
        op = "d"
    else:
        cur["spec"] = {"i": i, "pad": pad}
        obj = s.update("pods", cur)
        op = "u"
    out.write(f"{obj['metadata']['resourceVersion']} {op} {name} {i}\n")
    out.flush()
    i += 1
"""


def _child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _run_and_kill(path: Path, seed: int, delay: float, history: int) -> list[tuple[int, str, str, int]]:
    """Start the writer, SIGKILL it ``delay`` seconds after its first ack; the acked writes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(seed), str(history)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_child_env(),
    )
    lines: list[bytes] = []
    first = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not first.wait(WAIT):
            proc.kill()
            proc.wait(WAIT)
            pytest.fail(f"writer never acknowledged a write: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(delay)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
    reader.join(WAIT)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    acks = []
    for line in lines:
        if not line.endswith(b"\n"):  # cut short by the kill: not an acknowledgement
            continue
        rev, op, name, i = line.split()
        acks.append((int(rev), op.decode(), name.decode(), int(i)))
    return acks


def _check_file(path: Path) -> None:
    """The file is a sound SQLite database and events agree with objects."""
    assert raw_rows(path, "PRAGMA integrity_check") == [("ok",)]
    compacted = raw_rows(path, "SELECT value FROM meta WHERE key = 'compacted'")[0][0]
    revs = [r for (r,) in raw_rows(path, "SELECT revision FROM events ORDER BY revision")]
    assert revs == list(range(compacted + 1, compacted + 1 + len(revs))), "events are not contiguous"
    objects = {
        (res, ns, name): (rev, data)
        for res, ns, name, rev, data in raw_rows(
            path, "SELECT resource, namespace, name, revision, data FROM objects"
        )
    }
    latest: dict[tuple, tuple] = {}
    for rev, typ, res, ns, name, data in raw_rows(
        path, "SELECT revision, type, resource, namespace, name, data FROM events ORDER BY revision"
    ):
        assert orjson.loads(data)["metadata"]["resourceVersion"] == str(rev)
        latest[(res, ns, name)] = (rev, typ, data)
    for key, (rev, typ, data) in latest.items():
        if typ == DELETED:
            assert key not in objects, f"{key} deleted at {rev} but still stored"
        else:
            assert objects.get(key) == (rev, data), f"{key}: object row disagrees with its event {rev}"
    for key, (rev, _data) in objects.items():
        if rev > compacted:
            assert latest.get(key, (None,))[0] == rev, f"{key}: no event for its revision {rev}"
    top = max([compacted, *revs, *(r for r, _ in objects.values())])
    assert not revs or revs[-1] == top


@pytest.mark.slow
def test_crash_safety_sigkill_keeps_every_acknowledged_write(tmp_path):
    rnd = random.Random(20260101)
    delays = [0.0, rnd.uniform(0.05, 0.2), rnd.uniform(0.2, 0.5), rnd.uniform(0.5, 0.9)]
    for round_, delay in enumerate(delays):
        path = tmp_path / f"crash{round_}.sqlite"
        history = 40
        acks = _run_and_kill(path, seed=round_, delay=delay, history=history)
        assert acks, "no acknowledged writes"
        _check_file(path)

        expected: dict[str, int] = {}  # name -> spec.i
        for _rev, op, name, i in acks:
            if op == "d":
                expected.pop(name, None)
            else:
                expected[name] = i
        last = acks[-1][0]
        assert [a[0] for a in acks] == list(range(1, last + 1))  # a fresh file: revisions 1..n

        s = SqliteStore(path, history=history, compact_every=7)  # the kill released the lock
        try:
            rev = s.revision()
            # every acked write is there; at most the one write in flight committed unacked
            assert last <= rev <= last + 1
            if rev == last + 1:
                (ev,) = s.watch("pods", since=last).drain()
                if ev.type == DELETED:
                    expected.pop(ev.name)
                else:
                    expected[ev.name] = ev.object["spec"]["i"]
            objs, list_rev = s.list("pods")
            assert list_rev == rev
            assert {o["metadata"]["name"]: o["spec"]["i"] for o in objs} == expected
            # the acked writes still held in history are exactly what was acknowledged
            held = {e.revision: e for e in s.watch("pods", since=s.oldest_revision()).drain()}
            for arev, op, name, i in acks:
                if arev in held:
                    ev = held[arev]
                    assert (ev.type, ev.name) == ({"c": ADDED, "u": MODIFIED, "d": DELETED}[op], name)
                    if op != "d":
                        assert ev.object["spec"]["i"] == i
            # and the store keeps working where it stopped
            assert s.create("pods", svc("after-crash"))["metadata"]["resourceVersion"] == str(rev + 1)
        finally:
            s.close()
        _check_file(path)
