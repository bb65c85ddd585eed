"""Event expiry: the decision, and a sweep over the informer cache through the client."""

from __future__ import annotations

import asyncio

import pytest

from svcnet.client.inprocess import local_client
from svcnet.controllers.eventttl import EVENT_TTL, EventTTLController, expired

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z


@pytest.mark.parametrize(
    "event, want",
    [
        ({"lastTimestamp": "2023-11-14T21:13:19Z"}, True),  # 3601 s before NOW
        ({"lastTimestamp": "2023-11-14T21:13:20Z"}, False),  # exactly the TTL: kept
        ({"lastTimestamp": "2023-11-14T22:13:00Z", "metadata": {"creationTimestamp": "2020-01-01T00:00:00Z"}}, False),
        ({"lastTimestamp": None, "eventTime": "2023-11-14T20:00:00.000000Z"}, True),
        ({"metadata": {"creationTimestamp": "2023-11-14T20:00:00Z"}}, True),
        ({"metadata": {}}, False),  # no time at all: never expires here
        ({"lastTimestamp": "garbage", "metadata": {"creationTimestamp": "2023-11-14T22:00:00Z"}}, False),
    ],
)
def test_expired(event, want):
    assert expired(event, NOW) is want
    assert EVENT_TTL == 3600.0


def event(name: str, last: str) -> dict:
    return {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name}, "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "R", "message": "m", "type": "Normal", "count": 1, "firstTimestamp": last, "lastTimestamp": last}


async def test_sweep_deletes_only_expired_events():
    client = local_client()
    await client.create("events", event("old", "2023-11-14T20:00:00Z"))
    await client.create("events", event("new", "2023-11-14T22:10:00Z"))
    ctl = EventTTLController(client)
    task = ctl.events.start()  # the informer alone: sweeps are driven here with a fixed clock
    try:
        await ctl.events.wait_synced()
        assert await ctl.sweep(NOW) == 1
        assert [e["metadata"]["name"] for e in (await client.list("events", "default"))["items"]] == ["new"]
        assert await ctl.sweep(NOW + 3600) == 1
        assert (await client.list("events", "default"))["items"] == [] and ctl.deleted == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()


async def test_run_sweeps_at_start_and_then_every_interval():
    client = local_client()
    await client.create("events", event("ancient", "2020-01-01T00:00:00Z"))
    ctl = EventTTLController(client, interval=0.05)
    task = asyncio.create_task(ctl.run())
    try:
        for _ in range(200):
            if ctl.deleted == 1:
                break
            await asyncio.sleep(0.01)
        assert ctl.deleted == 1
        await client.create("events", event("also-ancient", "2020-01-01T00:00:00Z"))
        for _ in range(200):
            if ctl.deleted == 2:
                break
            await asyncio.sleep(0.01)
        assert ctl.deleted == 2 and (await client.list("events", "default"))["items"] == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.close()
