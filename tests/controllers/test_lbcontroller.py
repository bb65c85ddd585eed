"""The LoadBalancer IP controller's event-driven shell over the in-process client: a freed
address goes to a pending Service whichever way it was freed."""

from __future__ import annotations

import asyncio

import pytest

from svcnet.client.inprocess import local_client
from svcnet.controllers.lbcontroller import LoadBalancerController


def lb_service(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


async def ingress_of(client, name: str) -> list[str]:
    svc = await client.get("services", name, "default")
    return [i.get("ip") for i in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []]


async def until_ingress(client, name: str, want: list[str], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (got := await ingress_of(client, name)) != want:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{name}: ingress {got}, want {want}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def one_address():
    """A controller whose pool has a single address, and two LoadBalancer Services: a holds
    the address, b is pending."""
    client = local_client()
    ctl = LoadBalancerController(client, pools=("10.9.0.1-10.9.0.1",))
    task = asyncio.create_task(ctl.run())
    await client.create("services", lb_service("a"))
    await until_ingress(client, "a", ["10.9.0.1"])
    await client.create("services", lb_service("b"))
    await asyncio.sleep(0.1)
    assert await ingress_of(client, "b") == []
    yield client
    task.cancel()
    (res,) = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(res, asyncio.CancelledError), res
    await client.close()


async def test_address_freed_by_delete_goes_to_the_pending_service(one_address):
    client = one_address
    await client.delete("services", "a", "default")
    await until_ingress(client, "b", ["10.9.0.1"])


async def test_allocation_events(one_address):
    """IPAllocated for a, AllocationFailed for b while the pool is full (MetalLB's reasons)."""
    client = one_address
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        evs = {(e["involvedObject"]["name"], e["type"], e["reason"]): e for e in (await client.list("events", "default"))["items"]}
        if ("b", "Warning", "AllocationFailed") in evs or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.02)
    assert evs[("a", "Normal", "IPAllocated")]["message"] == 'Assigned IP ["10.9.0.1"]'
    assert evs[("b", "Warning", "AllocationFailed")]["source"] == {"component": "loadbalancer-ipam"}
    assert "no available" in evs[("b", "Warning", "AllocationFailed")]["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"spec": {"type": "ClusterIP"}},
        {"spec": {"type": "NodePort"}},
    ],
    ids=["to-ClusterIP", "to-NodePort"],
)
async def test_address_freed_by_a_type_change_goes_to_the_pending_service(one_address, change):
    client = one_address
    await client.patch("services", "a", change, "default")
    await until_ingress(client, "b", ["10.9.0.1"])
    assert await ingress_of(client, "a") == []
