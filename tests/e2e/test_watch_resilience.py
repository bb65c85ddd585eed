"""Informers over the HTTP transport across API server restarts.

The server goes away mid-watch; while it is down, state changes through another registry on
the same SQLite file (what a second API server would do); then an API server comes back on the
same file and port. The informer must resume its watch from the last resourceVersion it saw,
get the changes made during the outage, converge to the server's state, and apply no event
twice (handler calls are counted per object and resourceVersion). When the outage outlasts
the store's history, the resumed watch gets 410 Expired and the informer relists.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from svcnet.apiserver.registry import ClusterConfig, Registry
from svcnet.apiserver.server import APIServer
from svcnet.client.base import Client
from svcnet.client.http import HTTPTransport, client_from_kubeconfig
from svcnet.client.informer import Informer
from svcnet.client.inprocess import InProcessTransport
from svcnet.client.kubeconfig import ClusterAccess
from svcnet.controlplane import ControlPlane, ControlPlaneConfig
from svcnet.store.sqlite import SqliteStore

pytestmark = pytest.mark.slow

TIMEOUT = 30.0
CIDR = "10.96.0.0/12"


def svc(name: str, port: int = 80) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": {"selector": {"app": name}, "ports": [{"port": port}]}}


class Recorder:
    """Handler calls, as (kind, name, resourceVersion)."""

    def __init__(self, informer: Informer):
        self.calls: list[tuple[str, str, str]] = []
        informer.add_handler(self.on_add, self.on_update, self.on_delete)

    @staticmethod
    def _k(obj: dict) -> tuple[str, str]:
        md = obj["metadata"]
        return md["name"], md["resourceVersion"]

    def on_add(self, obj: dict) -> None:
        self.calls.append(("add", *self._k(obj)))

    def on_update(self, old: dict, new: dict) -> None:
        assert int(new["metadata"]["resourceVersion"]) > int(old["metadata"]["resourceVersion"])
        self.calls.append(("update", *self._k(new)))

    def on_delete(self, obj: dict) -> None:
        self.calls.append(("delete", *self._k(obj)))

    def assert_nothing_applied_twice(self) -> None:
        per_version = Counter((name, rv) for kind, name, rv in self.calls if kind != "delete")
        twice = {k: n for k, n in per_version.items() if n > 1}
        assert not twice, f"events applied more than once: {twice}; calls: {self.calls}"
        deletes = Counter(name for kind, name, _ in self.calls if kind == "delete")
        adds = Counter(name for kind, name, _ in self.calls if kind == "add")
        for name, n in deletes.items():
            assert n <= adds[name], f"{name} deleted {n} times but added {adds[name]} times"


async def wait_until(pred, what: str, timeout: float = TIMEOUT):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        v = pred()
        if v:
            return v
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def cache_state(inf: Informer) -> dict[str, str]:
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in inf.list("default")}


def server_state(store_path: Path, *, history: int = 100_000) -> dict[str, str]:
    with SqliteStore(store_path, history=history) as s:
        items, _ = s.list("services", "default")
    return {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in items}


async def change_offline(store_path: Path, fn, *, history: int = 100_000, cidr: str = CIDR) -> None:
    """Change state through another registry on the same SQLite file while no API server owns
    it (the writes a second API server would make)."""
    store = SqliteStore(store_path, history=history)
    try:
        reg = Registry(store, ClusterConfig(service_cidrs=(cidr,)))
        reg.bootstrap()
        await fn(Client(InProcessTransport(reg)))
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------


async def test_informer_survives_control_plane_restart_and_gets_outage_events(tmp_path):
    d = tmp_path / "cp"
    state = d / "state.db"

    def config(port: int) -> ControlPlaneConfig:
        return ControlPlaneConfig(state=str(state), api_port=port, kubeconfig=str(d / "kubeconfig"), service_cidrs=(CIDR,))

    cp = ControlPlane(config(0))
    await cp.start()
    port = cp.server.port
    client = client_from_kubeconfig(str(cp.kubeconfig_path))
    writer = client_from_kubeconfig(str(cp.kubeconfig_path))
    inf = Informer(client, "services")
    rec = Recorder(inf)
    inf.start()
    try:
        assert await inf.wait_synced(TIMEOUT)
        for n in ("a", "b", "c"):
            await writer.create("services", svc(n))
        await writer.patch("services", "b", {"metadata": {"labels": {"v": "1"}}})
        await wait_until(lambda: cache_state(inf).get("b") == server_state_live(cp, "b"), "b's label change")
        assert inf.stats["lists"] == 1

        # --- outage: the API server goes away, state changes behind it
        await cp.stop()
        await writer.close()

        async def outage(c: Client) -> None:
            await c.create("services", svc("d"))
            await c.patch("services", "a", {"spec": {"ports": [{"port": 81, "targetPort": 81}]}})
            await c.delete("services", "c")
            await c.patch("services", "d", {"metadata": {"labels": {"new": "yes"}}})

        await change_offline(state, outage)
        want = server_state(state)
        assert set(want) == {"kubernetes", "a", "b", "d"}

        # --- the API server comes back on the same file and port (kubeconfig, CA and token unchanged)
        cp = ControlPlane(config(port))
        await cp.start()
        assert cp.server.port == port
        await wait_until(lambda: cache_state(inf) == want, "the informer to converge after the restart")

        # the outage's changes arrived as events: d added (then updated), a updated, c deleted
        kinds = [(k, n) for k, n, _ in rec.calls]
        assert ("delete", "c") in kinds and ("add", "d") in kinds
        assert kinds.count(("update", "d")) == 1 and kinds.count(("update", "a")) == 1
        assert inf.stats["lists"] == 1  # resumed from its resourceVersion: no relist was needed
        assert inf.stats["watches"] >= 2

        # and it keeps following live changes
        writer = client_from_kubeconfig(str(cp.kubeconfig_path))
        await writer.create("services", svc("e"))
        await wait_until(lambda: "e" in cache_state(inf), "a live event after the restart")
        await writer.close()
        rec.assert_nothing_applied_twice()
        assert cache_state(inf) == {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in (await client.list("services", "default"))["items"]}
    finally:
        await inf.stop()
        await client.close()
        await cp.stop()


def server_state_live(cp: ControlPlane, name: str) -> str | None:
    try:
        return cp.store.get("services", "default", name)["metadata"]["resourceVersion"]
    except Exception:
        return None


async def _start_plain(state: Path, port: int, history: int) -> tuple[APIServer, SqliteStore]:
    store = SqliteStore(state, history=history, compact_every=1)
    reg = Registry(store, ClusterConfig(service_cidrs=(CIDR,)))
    reg.bootstrap()
    server = APIServer(reg, host="127.0.0.1", port=port)
    await server.start()
    return server, store


async def test_informer_relists_after_410_when_the_outage_outlasts_the_history(tmp_path):
    state = tmp_path / "small.db"
    history = 4
    server, store = await _start_plain(state, 0, history)
    port = server.port
    client = Client(HTTPTransport(ClusterAccess(server=server.url)))
    inf = Informer(client, "services", "default")
    rec = Recorder(inf)
    inf.start()
    try:
        assert await inf.wait_synced(TIMEOUT)
        for n in ("keep", "gone", "changed"):
            await client.create("services", svc(n))
        await wait_until(lambda: {"keep", "gone", "changed"} <= set(cache_state(inf)), "the first services")

        await server.stop()
        store.close()

        async def outage(c: Client) -> None:  # far more writes than the history holds
            await c.delete("services", "gone")
            for i in range(10):
                await c.patch("services", "changed", {"metadata": {"labels": {"n": str(i)}}})
            await c.create("services", svc("born"))

        await change_offline(state, outage, history=history)
        want = server_state(state, history=history)

        server, store = await _start_plain(state, port, history)
        await wait_until(lambda: cache_state(inf) == want, "the informer to converge by relisting")
        assert inf.stats["lists"] == 2  # the resumed watch got 410 Expired and relisted
        calls = [(k, n) for k, n, _ in rec.calls]
        assert ("delete", "gone") in calls and ("add", "born") in calls
        # the relist turns ten missed updates into one
        assert calls.count(("update", "changed")) == 1
        assert ("update", "keep") not in calls
        rec.assert_nothing_applied_twice()

        # live again
        await client.create("services", svc("after"))
        await wait_until(lambda: "after" in cache_state(inf), "a live event after the relist")
        rec.assert_nothing_applied_twice()
    finally:
        await inf.stop()
        await client.close()
        await server.stop()
        store.close()


async def test_watch_resumed_across_a_restart_replays_each_event_once(tmp_path):
    """The raw watch stream, no informer: resuming from the last resourceVersion seen before the
    server went away delivers exactly the events after it, in order."""
    state = tmp_path / "w.db"
    server, store = await _start_plain(state, 0, 1000)
    port = server.port
    client = Client(HTTPTransport(ClusterAccess(server=server.url)))
    try:
        await client.create("services", svc("x"))
        lst = await client.list("services", "default")
        last_rv = lst["metadata"]["resourceVersion"]
        seen: list[tuple[str, str, str]] = []

        async def follow(rv: str, n: int) -> str:
            async for f in client.watch("services", "default", resource_version=rv):
                seen.append((f["type"], f["object"]["metadata"]["name"], f["object"]["metadata"]["resourceVersion"]))
                rv = f["object"]["metadata"]["resourceVersion"]
                if len(seen) >= n:
                    break
            return rv

        task = asyncio.ensure_future(follow(last_rv, 1))
        await asyncio.sleep(0.1)
        await client.create("services", svc("y"))
        last_rv = await asyncio.wait_for(task, TIMEOUT)

        await server.stop()
        store.close()

        async def outage(c: Client) -> None:
            await c.patch("services", "x", {"metadata": {"labels": {"a": "b"}}})
            await c.delete("services", "y")
            await c.create("services", svc("z"))

        await change_offline(state, outage)
        server, store = await _start_plain(state, port, 1000)
        await asyncio.wait_for(follow(last_rv, 4), TIMEOUT)
        assert [(t, n) for t, n, _ in seen] == [("ADDED", "y"), ("MODIFIED", "x"), ("DELETED", "y"), ("ADDED", "z")]
        rvs = [int(rv) for _, _, rv in seen]
        assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)
    finally:
        await client.close()
        await server.stop()
        store.close()
