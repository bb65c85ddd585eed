"""The event recorder: Event shape, dedup into count, never blocking, flush on close."""

from __future__ import annotations

import pytest

from svcnet.client import events as E
from svcnet.client.events import EventRecorder, event_object
from svcnet.client.inprocess import local_client

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "team", "uid": "u-1", "resourceVersion": "42"}}


def test_event_object_is_a_core_v1_event_about_the_object():
    ev = event_object(POD, "Normal", "Started", "Started container app", component="kubelet", host="node1", now=1_700_000_000)
    name = ev["metadata"].pop("name")
    assert name.startswith("web-1.") and int(name.split(".", 1)[1], 16) > 0
    assert ev == {
        "apiVersion": "v1", "kind": "Event", "metadata": {"namespace": "team"},
        "involvedObject": {"kind": "Pod", "name": "web-1", "apiVersion": "v1", "namespace": "team", "uid": "u-1", "resourceVersion": "42"},
        "reason": "Started", "message": "Started container app", "source": {"component": "kubelet", "host": "node1"},
        "firstTimestamp": "2023-11-14T22:13:20Z", "lastTimestamp": "2023-11-14T22:13:20Z", "count": 1, "type": "Normal",
        "eventTime": None, "reportingComponent": "kubelet", "reportingInstance": "node1",
    }


def test_events_about_cluster_scoped_objects_go_to_default():
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    ev = event_object(node, "Normal", "Ready", "ok", component="kubelet", host="", now=0)
    assert ev["metadata"]["namespace"] == "default" and "namespace" not in ev["involvedObject"] and ev["source"] == {"component": "kubelet"}


@pytest.fixture
async def client():
    c = local_client()
    await c.create("namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    yield c
    await c.close()


async def test_repeats_become_one_event_with_a_count(client, monkeypatch):
    monkeypatch.setattr(E, "REPEAT_WRITE_INTERVAL", 0.0)  # every repeat written
    rec = EventRecorder(client, "kubelet", host="node1")
    for _ in range(3):
        rec.record(POD, "Warning", "Unhealthy", "Readiness probe failed: connection refused")
    rec.record(POD, "Normal", "Started", "Started container app")
    await rec.close()
    items = (await client.list("events", "team"))["items"]
    by_reason = {e["reason"]: e for e in items}
    assert sorted(by_reason) == ["Started", "Unhealthy"] and len(items) == 2
    assert by_reason["Unhealthy"]["count"] == 3 and by_reason["Started"]["count"] == 1
    assert rec.written == 4 and rec.dropped == 0


async def test_a_full_queue_drops_instead_of_blocking(client, monkeypatch):
    monkeypatch.setattr(E, "QUEUE_SIZE", 2)
    rec = EventRecorder(client, "test")
    for i in range(5):  # the drain task has not run yet: the queue takes 2
        rec.record(POD, "Normal", "R", f"m{i}")
    assert rec.dropped == 3
    await rec.close()
    assert sorted(e["message"] for e in (await client.list("events", "team"))["items"]) == ["m0", "m1"]


async def test_an_event_expired_meanwhile_is_created_again(client, monkeypatch):
    monkeypatch.setattr(E, "REPEAT_WRITE_INTERVAL", 0.0)
    rec = EventRecorder(client, "test")
    rec.record(POD, "Normal", "R", "again")
    await rec.flush()
    (ev,) = (await client.list("events", "team"))["items"]
    await client.delete("events", ev["metadata"]["name"], "team")
    rec.record(POD, "Normal", "R", "again")
    await rec.close()
    (ev2,) = (await client.list("events", "team"))["items"]
    assert ev2["metadata"]["name"] != ev["metadata"]["name"] and ev2["count"] == 1


async def test_a_failed_write_is_not_fatal(client):
    rec = EventRecorder(client, "test")
    rec.record({"kind": "Pod", "metadata": {"name": "x", "namespace": "missing-ns"}}, "Normal", "R", "m")  # no such namespace
    rec.record(POD, "Normal", "R", "ok")
    await rec.close()
    assert rec.written == 1
    assert [e["message"] for e in (await client.list("events", "team"))["items"]] == ["ok"]


async def test_quick_repeats_are_counted_and_written_with_the_next_write(client, monkeypatch):
    rec = EventRecorder(client, "default-scheduler")
    for _ in range(4):  # within REPEAT_WRITE_INTERVAL: one create, three counted only
        rec.record(POD, "Warning", "FailedScheduling", "0/0 nodes are available.")
    await rec.flush()
    (ev,) = (await client.list("events", "team"))["items"]
    assert ev["count"] == 1
    monkeypatch.setattr(E, "REPEAT_WRITE_INTERVAL", 0.0)  # as if the interval had passed
    rec.record(POD, "Warning", "FailedScheduling", "0/0 nodes are available.")
    await rec.close()
    (ev,) = (await client.list("events", "team"))["items"]
    assert ev["count"] == 5


async def test_kind_for_objects_that_do_not_carry_it(client):
    rec = EventRecorder(client, "replicaset-controller")
    rec.record({"metadata": {"name": "rs-1", "namespace": "team", "uid": "u2"}}, "Normal", "SuccessfulCreate", "Created pod: p", kind="ReplicaSet")
    await rec.close()
    (ev,) = (await client.list("events", "team"))["items"]
    assert ev["involvedObject"] == {"kind": "ReplicaSet", "name": "rs-1", "apiVersion": "apps/v1", "namespace": "team", "uid": "u2"}
